//! SVG charts for `report.html`, drawn with plotters' SVG backend.
//!
//! Each function takes plain numbers and returns one `<svg>` element as text, with no fonts or
//! scripts to load: titles and explanations live in the HTML around it. Errors are returned as
//! text so the page can say which chart could not be drawn instead of failing whole.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// Chart size in pixels; the page scales it to its column.
const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;
const FONT: &str = "sans-serif";

/// Series colours, in order (colour-blind friendly).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x17, 0xbe, 0xcf),
];
/// Colour of failures.
pub const FAILURE: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// One bar of a histogram: `[lo, hi)` on the x axis and its count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
}

/// A named line of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Mark each point with a dot (for a few measured points, such as the steps of a sweep).
    pub markers: bool,
}

/// An axis range that plotters can draw: finite and at least a little wide.
fn span(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() { hi } else { lo + 1.0 };
    if hi - lo > 1e-9 {
        lo..hi
    } else {
        lo..lo + 1.0
    }
}

/// Tick labels without float noise and with 3 significant digits: `120`, `2.5`, `0.25`,
/// `0.0018`.
fn tick(v: &f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 || a == 0.0 || !a.is_finite() {
        format!("{v:.0}")
    } else {
        let decimals = (2.0 - a.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn draw_error<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw the chart: {e}")
}

/// Bars of a histogram on a logarithmic x axis (the bins are expected to be equally wide on
/// it, see [`super::figures::bins`]): `x_desc` below the x axis, counts on the y axis.
pub fn histogram(bins: &[Bin], x_desc: &str, y_desc: &str) -> Result<String, String> {
    // A logarithmic axis starts above 0: at 1 µs at the lowest.
    let x0 = bins.first().map_or(1.0, |b| b.lo).max(0.001);
    let x1 = bins.last().map_or(10.0, |b| b.hi).max(x0 * 1.01);
    let top = bins.iter().map(|b| b.count).max().unwrap_or(0) as f64 * 1.1 + 1.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((x0..x1).log_scale(), span(0.0, top))
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xe6, 0xe6, 0xe6))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_error)?;
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new(
                    [(b.lo.max(x0), 0.0), (b.hi.max(x0), b.count as f64)],
                    PALETTE[0].mix(0.8).filled(),
                )
            }))
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// Where the legend of several lines goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// In the upper right corner of the plot (fine for curves that rise to the right).
    Inside,
    /// In a column right of the plot, so it never covers a point.
    Beside,
}

/// Width of the legend column of [`Legend::Beside`].
const LEGEND_WIDTH: u32 = 170;

/// Lines over a shared x axis, with a legend when there is more than one. `y_max` fixes the
/// top of the y axis (e.g. 100 for percentages); otherwise it follows the data.
pub fn lines(lines: &[Line], x_desc: &str, y_desc: &str, y_max: Option<f64>) -> Result<String, String> {
    lines_with(lines, x_desc, y_desc, y_max, Legend::Inside)
}

/// [`lines`] with the legend beside the plot, for measured points anywhere in it.
pub fn lines_legend_beside(lines: &[Line], x_desc: &str, y_desc: &str, y_max: Option<f64>) -> Result<String, String> {
    lines_with(lines, x_desc, y_desc, y_max, Legend::Beside)
}

fn lines_with(
    lines: &[Line],
    x_desc: &str,
    y_desc: &str,
    y_max: Option<f64>,
    legend: Legend,
) -> Result<String, String> {
    let points = || lines.iter().flat_map(|l| l.points.iter());
    let x0 = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x1 = points().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let y1 = y_max.unwrap_or_else(|| points().map(|p| p.1).fold(0.0, f64::max) * 1.1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let beside = legend == Legend::Beside && lines.len() > 1;
        let (plot, key) = root.split_horizontally(if beside { WIDTH - LEGEND_WIDTH } else { WIDTH });
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(span(x0.min(x1), x1), span(0.0, y1))
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xe6, 0xe6, 0xe6))
            .draw()
            .map_err(draw_error)?;
        for line in lines {
            let color = line.color;
            let finite = || {
                line.points
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
            };
            if line.markers {
                chart
                    .draw_series(finite().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(draw_error)?;
            }
            let series = chart
                .draw_series(LineSeries::new(finite(), color.stroke_width(2)))
                .map_err(draw_error)?;
            if lines.len() > 1 && !beside {
                series
                    .label(line.name.clone())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            }
        }
        if beside {
            for (i, line) in lines.iter().enumerate() {
                let y = 24 + 24 * i as i32;
                let color = line.color;
                key.draw(&PathElement::new([(8, y), (30, y)], color.stroke_width(2)))
                    .map_err(draw_error)?;
                key.draw(&Text::new(line.name.clone(), (36, y - 8), (FONT, 15)))
                    .map_err(draw_error)?;
            }
        } else if lines.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xcc, 0xcc, 0xcc))
                .label_font((FONT, 15))
                .draw()
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// One bar per name (e.g. cost by target), values in USD.
pub fn bars(bars: &[(String, f64)], y_desc: &str) -> Result<String, String> {
    let n = bars.len().max(1) as u32;
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.15;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(84)
            // `a..b` has b - a + 1 segments: one per bar, no empty slot after the last.
            .build_cartesian_2d((0u32..n - 1).into_segmented(), span(0.0, top))
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xe6, 0xe6, 0xe6))
            .y_desc(y_desc)
            .x_labels(bars.len().max(1))
            .x_label_formatter(&label)
            .y_label_formatter(&|v: &f64| format!("${}", tick(v)))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_error)?;
        // The last bar ends at the axis' end (its next segment does not exist).
        let right_edge = |i: u32| {
            if i + 1 >= n {
                SegmentValue::Last
            } else {
                SegmentValue::Exact(i + 1)
            }
        };
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
                let i = i as u32;
                let color = PALETTE[i as usize % PALETTE.len()];
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (right_edge(i), *value)],
                    color.mix(0.85).filled(),
                );
                bar.set_margin(0, 0, 18, 18);
                bar
            }))
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_draws_one_rect_per_non_empty_bin() {
        let bins = [
            Bin {
                lo: 0.0,
                hi: 10.0,
                count: 3,
            },
            Bin {
                lo: 10.0,
                hi: 20.0,
                count: 0,
            },
            Bin {
                lo: 20.0,
                hi: 30.0,
                count: 5,
            },
        ];
        let svg = histogram(&bins, "latency (ms)", "requests").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        // Background + 2 bars, at least.
        assert!(svg.matches("<rect").count() >= 3, "{svg}");
        assert!(svg.contains("latency (ms)"));
    }

    #[test]
    fn lines_have_a_legend_only_when_there_are_several() {
        let line = |name: &str, color| Line {
            name: name.into(),
            color,
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            markers: false,
        };
        let one = lines(&[line("only", PALETTE[0])], "s", "req/s", None).unwrap();
        assert_eq!(one.matches("stroke=\"#1F77B4\" stroke-width=\"2\"").count(), 1, "{one}");
        assert!(!one.contains("\nonly\n"), "{one}");
        let two = lines(&[line("ok", PALETTE[0]), line("failed", FAILURE)], "s", "req/s", None).unwrap();
        let failure = "<polyline fill=\"none\" opacity=\"1\" stroke=\"#D62728\" stroke-width=\"2\"";
        assert_eq!(two.matches(failure).count(), 2, "the line and its legend mark:\n{two}");
        assert!(two.contains("\nfailed\n"), "{two}");
    }

    #[test]
    fn degenerate_data_still_draws() {
        assert!(lines(&[], "x", "y", None).is_ok());
        assert!(histogram(&[], "x", "y").is_ok());
        assert!(bars(&[], "USD").is_ok());
        let flat = Line {
            name: "flat".into(),
            color: PALETTE[1],
            points: vec![(5.0, 0.0), (5.0, 0.0)],
            markers: true,
        };
        assert!(lines(&[flat], "x", "y", Some(100.0)).is_ok());
        let nan = Line {
            name: "nan".into(),
            color: PALETTE[1],
            points: vec![(f64::NAN, 1.0)],
            markers: true,
        };
        assert!(lines(&[nan], "x", "y", None).is_ok());
    }

    #[test]
    fn bars_label_each_name_and_escape_it() {
        let svg = bars(&[("deepseek".into(), 0.0035), ("<gpt41>".into(), 0.004)], "USD").unwrap();
        assert!(svg.contains("deepseek"), "{svg}");
        assert!(svg.contains("&lt;gpt41&gt;"), "{svg}");
        assert!(!svg.contains("<gpt41>"));
    }

    /// `(x, x + width)` of every `<rect>` filled with `color` (plotters writes `fill="#RRGGBB"`).
    fn rects(svg: &str, color: RGBColor) -> Vec<(f64, f64)> {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
        let attr = |tag: &str, name: &str| -> f64 {
            let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[start..].split('"').next().unwrap().parse().unwrap()
        };
        svg.split("<rect")
            .skip(1)
            .map(|t| &t[..t.find("/>").unwrap()])
            .filter(|t| t.contains(&fill))
            .map(|t| (attr(t, "x"), attr(t, "x") + attr(t, "width")))
            .collect()
    }

    #[test]
    fn bars_fill_the_plot_without_an_empty_slot_after_the_last() {
        let svg = bars(&[("a".into(), 1.0), ("b".into(), 2.0)], "USD").unwrap();
        let (first, last) = (rects(&svg, PALETTE[0]), rects(&svg, PALETTE[1]));
        assert_eq!((first.len(), last.len()), (1, 1), "{svg}");
        // Two slots over the plot's width: the second bar ends near the right edge.
        assert!(last[0].1 > f64::from(WIDTH) * 0.85, "{last:?}");
        let one = rects(&bars(&[("only".into(), 1.0)], "USD").unwrap(), PALETTE[0]);
        assert!(
            one.len() == 1 && one[0].1 - one[0].0 > f64::from(WIDTH) * 0.6,
            "{one:?}"
        );
        let (w0, w1) = (first[0].1 - first[0].0, last[0].1 - last[0].0);
        assert!(w0 > f64::from(WIDTH) * 0.3 && (w0 - w1).abs() < 2.0, "{w0} {w1}");
    }

    #[test]
    fn a_legend_beside_the_plot_is_right_of_every_point() {
        let line = |name: &str, color| Line {
            name: name.into(),
            color,
            points: vec![(1.0, 10.0), (2.0, 95.0), (3.0, 100.0)],
            markers: true,
        };
        let svg = lines_legend_beside(
            &[line("c=1", PALETTE[0]), line("c=8", PALETTE[1])],
            "x",
            "y",
            Some(100.0),
        )
        .unwrap();
        let legend_x = |name: &str| -> f64 {
            let at = svg
                .find(&format!(">\n{name}\n</text>"))
                .unwrap_or_else(|| panic!("no legend {name}: {svg}"));
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            let start = tag.find(" x=\"").unwrap() + 4;
            tag[start..].split('"').next().unwrap().parse().unwrap()
        };
        let plot_right = f64::from(WIDTH - LEGEND_WIDTH);
        assert!(legend_x("c=1") >= plot_right && legend_x("c=8") >= plot_right);
        let dots = svg.matches("<circle").count();
        assert_eq!(dots, 6, "every point drawn");
        assert!(svg.split("<circle").skip(1).all(|c| {
            let start = c.find(" cx=\"").unwrap() + 5;
            c[start..].split('"').next().unwrap().parse::<f64>().unwrap() < plot_right
        }));
    }

    #[test]
    fn ticks_have_no_float_noise() {
        assert_eq!(tick(&120.0), "120");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&10.0), "10");
        assert_eq!(tick(&0.0018), "0.0018");
        assert_eq!(tick(&12.34), "12.3");
    }
}
