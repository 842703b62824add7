//! Where a key path such as `providers[0].rpm` or `prices."gpt-4.1"` is written in the job file,
//! so that every error about a setting can name its line, not only the ones TOML parsing finds.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The 1-based line of `key` in the TOML `text`: the line of the key itself, or, when the key is
/// not written (a default is at fault), of the nearest enclosing table or array entry that is.
/// `None` when not even the first step is in the file, or the text is not TOML.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let span = deepest_span(root.get_ref(), &steps(key)?)?;
    let before = text.get(..span.start)?;
    Some(before.matches('\n').count() + 1)
}

/// The span of the last step of `steps` found under `table`.
fn deepest_span(table: &DeTable<'_>, steps: &[Step]) -> Option<Range<usize>> {
    let mut found = None;
    let mut node = Node::Table(table);
    for step in steps {
        let next: &Spanned<DeValue<'_>> = match (node, step) {
            (Node::Table(table), Step::Key(name)) => {
                let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
                    break;
                };
                found = Some(key.span());
                value
            }
            (Node::Array(items), Step::Index(i)) => {
                let Some(item) = items.get(*i) else { break };
                found = Some(first_key_span(item).unwrap_or_else(|| item.span()));
                item
            }
            _ => break,
        };
        node = match next.get_ref() {
            DeValue::Table(table) => Node::Table(table),
            DeValue::Array(items) => Node::Array(items),
            _ => Node::Leaf,
        };
    }
    found
}

/// An array-of-tables entry's span may start at its `[[header]]`; its first key is a surer line.
fn first_key_span(item: &Spanned<DeValue<'_>>) -> Option<Range<usize>> {
    match item.get_ref() {
        DeValue::Table(table) => table.iter().map(|(k, _)| k.span()).min_by_key(|s| s.start),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Node<'a, 'i> {
    Table(&'a DeTable<'i>),
    Array(&'a [Spanned<DeValue<'i>>]),
    Leaf,
}

/// `providers[0].billing.currency` → `providers`, 0, `billing`, `currency`; quoted names
/// (`prices."gpt-4.1"`, written with Rust's `{:?}`) are one step.
fn steps(key: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut chars = key.chars().peekable();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => push_name(&mut steps, &mut name),
            '[' => {
                push_name(&mut steps, &mut name);
                let digits: String = chars.by_ref().take_while(|&c| c != ']').collect();
                steps.push(Step::Index(digits.trim().parse().ok()?));
            }
            '"' => {
                let mut quoted = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => quoted.push(chars.next()?),
                        c => quoted.push(c),
                    }
                }
                steps.push(Step::Key(quoted));
            }
            c => name.push(c),
        }
    }
    push_name(&mut steps, &mut name);
    (!steps.is_empty()).then_some(steps)
}

fn push_name(steps: &mut Vec<Step>, name: &mut String) {
    if !name.is_empty() {
        steps.push(Step::Key(std::mem::take(name)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"# a job file
[[providers]]
name = "p"
base_url = "mock"
rpm = 0

[[providers]]
name = "q"
base_url = "mock"

[retry]
max_attempts = 0

[prices."gpt-4.1"]
input = -1.0
output = 2.0

[route]
targets = ["a",
  "b"]
"#;

    #[test]
    fn key_paths_are_split_into_steps() {
        assert_eq!(
            steps("providers[0].billing.currency"),
            Some(vec![
                Step::Key("providers".into()),
                Step::Index(0),
                Step::Key("billing".into()),
                Step::Key("currency".into())
            ])
        );
        assert_eq!(
            steps(r#"prices."a.b\"c""#),
            Some(vec![Step::Key("prices".into()), Step::Key("a.b\"c".into())])
        );
        assert_eq!(steps(""), None);
        assert_eq!(steps("a[x]"), None);
    }

    #[test]
    fn each_key_is_found_on_its_line() {
        assert_eq!(line_of(JOB, "providers[0].rpm"), Some(5));
        assert_eq!(line_of(JOB, "providers[1].name"), Some(8));
        assert_eq!(line_of(JOB, "retry.max_attempts"), Some(12));
        assert_eq!(line_of(JOB, r#"prices."gpt-4.1""#), Some(14));
        assert_eq!(line_of(JOB, "route.targets[1]"), Some(20));
    }

    #[test]
    fn a_key_left_out_points_at_its_table() {
        assert_eq!(line_of(JOB, "retry.base_delay"), Some(11));
        assert_eq!(line_of(JOB, "providers[1].rpm"), Some(8));
        assert_eq!(line_of(JOB, "run.concurrency"), None);
        assert_eq!(line_of("not = [toml", "not"), None);
    }
}
