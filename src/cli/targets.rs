//! `sheepdog check` and `sheepdog models`: the route's targets, tried or listed.

use sheepdog::Exit;

use super::{cost, resolve, say_notices, ConfigArgs, ModelsArgs, Outcome};

pub async fn check(args: ConfigArgs) -> Outcome {
    let config = resolve(&args.overrides())?;
    say_notices(&config.notices, false);
    let rows = sheepdog::check(&config).await?;
    print!("{}", sheepdog::check::render(&rows));
    Ok(Exit::failed_if(rows.iter().any(|r| !r.ok)))
}

pub fn models(args: ModelsArgs) -> Outcome {
    let mut config = resolve(&args.target.overrides())?;
    cost::apply_prices(&mut config, args.target.prices.as_deref())?;
    print!("{}", sheepdog::models::render(&config, args.all));
    Ok(Exit::Success)
}
