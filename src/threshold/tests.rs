use super::SloMetric;
use super::*;

fn parse(text: &str) -> Threshold {
    text.parse().unwrap()
}

fn percentiles(p99: f64) -> Percentiles {
    Percentiles {
        count: 10,
        min: 1.0,
        mean: 2.0,
        p50: 2.0,
        p90: 3.0,
        p95: 4.0,
        p99,
        p999: p99 + 1.0,
        max: p99 + 2.0,
    }
}

#[test]
fn reads_every_kind_of_figure() {
    let t = parse("p99(ttft)<500ms");
    assert_eq!(
        t.figure,
        Figure::Latency {
            stat: Stat::P99,
            metric: SloMetric::Ttft
        }
    );
    assert_eq!((t.op, t.limit), (Op::Below, 500.0));
    let t = parse(" p99.9(e2e) <= 2s ");
    assert_eq!(
        (t.op, t.limit, t.text.as_str()),
        (Op::AtMost, 2000.0, "p99.9(e2e) <= 2s")
    );
    assert_eq!(parse("max(itl)<50ms").limit, 50.0);
    let t = parse("error_rate<1%");
    assert_eq!((t.figure, t.limit), (Figure::ErrorRate, 0.01));
    assert_eq!(parse("error_rate<0.02").limit, 0.02);
    let t = parse("rps>100");
    assert_eq!((t.figure, t.op, t.limit), (Figure::Rps, Op::Above, 100.0));
    let t = parse("goodput>=95%");
    assert_eq!((t.figure, t.op, t.limit), (Figure::Goodput, Op::AtLeast, 0.95));
    assert_eq!(parse("goodput_rps>10").figure, Figure::GoodputRps);
}

#[test]
fn bad_thresholds_say_what_is_wrong() {
    let err = |t: &str| t.parse::<Threshold>().unwrap_err().to_string();
    assert!(err("p99(ttft)").contains("has no comparison"), "{}", err("p99(ttft)"));
    assert!(err("p98(ttft)<1s").contains("unknown figure `p98(ttft)`"));
    assert!(err("p99(ttfb)<1s").contains("unknown figure `p99(ttfb)`"));
    assert!(err("latency<1s").contains("unknown figure `latency`"));
    assert!(err("p99(ttft)<fast").contains("`fast` in `p99(ttft)<fast` is not a duration"));
    assert!(err("error_rate<150%").contains("is not a share"));
    assert!(err("rps>lots").contains("is not a number of requests per second"));
}

#[test]
fn check_says_where_and_by_how_much() {
    let figures = Figures {
        latency: [Some(percentiles(812.0)), None, None, Some(percentiles(900.0))],
        error_rate: 0.0,
        rps: 40.0,
        goodput: None,
        goodput_rps: None,
    };
    let thresholds = [
        parse("p99(ttft)<500ms"),
        parse("rps>100"),
        parse("error_rate<1%"),
        parse("p99(itl)<50ms"),
    ];
    let checks = check(&thresholds, &figures, "step 3 (rate 20/s)");
    assert!(!checks[0].passed);
    assert_eq!(checks[0].excess, 312.0);
    assert_eq!(
        checks[0].message,
        "p99(ttft)<500ms crossed at step 3 (rate 20/s): 812ms, 312ms over"
    );
    assert!(!checks[1].passed);
    assert_eq!(
        checks[1].message,
        "rps>100 crossed at step 3 (rate 20/s): 40 req/s, 60 req/s short"
    );
    assert!(checks[2].passed, "{:?}", checks[2]);
    assert_eq!(checks[2].excess, 0.0);
    assert!(!checks[3].passed, "an unmeasured figure does not pass");
    assert!(checks[3].message.contains("not measured"));
}

#[test]
fn validate_names_what_is_missing() {
    let goodput = [parse("goodput>90%")];
    assert!(validate(&goodput, false, true)
        .unwrap_err()
        .to_string()
        .contains("add --slo"));
    assert_eq!(validate(&goodput, true, true), Ok(()));
    let ttft = [parse("p50(ttft)<1s")];
    assert!(validate(&ttft, false, false)
        .unwrap_err()
        .to_string()
        .contains("--no-stream"));
    assert_eq!(validate(&[parse("p50(e2e)<1s")], false, false), Ok(()));
}
