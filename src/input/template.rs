//! Prompt templates (`run --template`): a Jinja template (minijinja) rendered once per table
//! row, with the row's columns as variables. A variable the row does not have is an error that
//! names it, never an empty string.

use std::collections::BTreeSet;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};

/// Where a template comes from: a file, or the text given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    /// The file name, or `--template` / `--system` for inline text.
    pub name: String,
    pub text: String,
}

impl TemplateSource {
    /// `value` is a file when one exists at that path; otherwise it must look like a template
    /// (`{{`, `{%` or a space), so that a mistyped file name is an error, not the prompt.
    pub fn from_arg(flag: &str, value: &str) -> Result<TemplateSource, String> {
        let path = Path::new(value);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {value}: cannot read: {e}"))?;
            return Ok(TemplateSource {
                name: value.to_string(),
                text,
            });
        }
        if value.contains("{{") || value.contains("{%") || value.contains(char::is_whitespace) {
            return Ok(TemplateSource {
                name: flag.to_string(),
                text: value.to_string(),
            });
        }
        Err(format!(
            "{flag} {value}: no such file; to give the template itself, write it with a variable, \
             e.g. {flag} 'Summarize: {{{{ text }}}}'"
        ))
    }
}

/// The user message template and, optionally, the system message template.
pub struct Templates {
    env: Environment<'static>,
    has_system: bool,
    /// The variables either template reads from the row (globals such as `range` excluded).
    variables: BTreeSet<String>,
}

const USER: &str = "user";
const SYSTEM: &str = "system";

impl Templates {
    /// Compiles the templates; a syntax error names the template and its line.
    pub fn new(user: &TemplateSource, system: Option<&TemplateSource>) -> Result<Templates, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut variables = BTreeSet::new();
        for (key, source) in [(USER, Some(user)), (SYSTEM, system)] {
            let Some(source) = source else { continue };
            env.add_template_owned(key, source.text.clone())
                .map_err(|e| template_error(source, &e))?;
            let template = env.get_template(key).map_err(|e| template_error(source, &e))?;
            variables.extend(template.undeclared_variables(false));
        }
        let globals: BTreeSet<String> = env.globals().map(|(name, _)| name.to_string()).collect();
        variables.retain(|v| !globals.contains(v));
        Ok(Templates {
            env,
            has_system: system.is_some(),
            variables,
        })
    }

    /// The row variables the templates read.
    pub fn variables(&self) -> &BTreeSet<String> {
        &self.variables
    }

    /// The (system, user) messages for `row`. `Err`: why, naming the variable when one is
    /// missing.
    pub fn render(&self, row: &serde_json::Map<String, serde_json::Value>) -> Result<(Option<String>, String), String> {
        if let Some(missing) = self.variables.iter().find(|v| !row.contains_key(v.as_str())) {
            return Err(format!(
                "the template uses {{{{ {missing} }}}}, which this row does not have"
            ));
        }
        let context = minijinja::Value::from(minijinja::value::Serde(row));
        let render = |key: &str| -> Result<String, String> {
            let template = self.env.get_template(key).map_err(|e| e.to_string())?;
            template.render(&context).map_err(|e| {
                let what = if key == SYSTEM { "--system" } else { "the template" };
                format!("{what}: {}", describe(&e))
            })
        };
        let system = if self.has_system { Some(render(SYSTEM)?) } else { None };
        Ok((system, render(USER)?))
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e.kind().to_string();
    if let Some(detail) = e.detail() {
        text = format!("{text}: {detail}");
    }
    if let Some(line) = e.line() {
        text = format!("{text} (template line {line})");
    }
    text
}

fn template_error(source: &TemplateSource, e: &minijinja::Error) -> String {
    let mut text = source.name.clone();
    if let Some(line) = e.line() {
        text = format!("{text}: line {line}");
    }
    format!("{text}: {}", describe_plain(e))
}

fn describe_plain(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inline(text: &str) -> TemplateSource {
        TemplateSource {
            name: "--template".into(),
            text: text.into(),
        }
    }

    fn row(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn renders_columns_loops_and_filters_and_lists_the_variables() {
        let t = Templates::new(
            &inline("Summarize {{ text | upper }}{% for i in range(2) %}!{% endfor %}"),
            Some(&inline("You are {{ role }}.")),
        )
        .unwrap();
        assert_eq!(t.variables().iter().collect::<Vec<_>>(), ["role", "text"]);
        let (system, user) = t.render(&row(json!({"text": "abc", "role": "terse"}))).unwrap();
        assert_eq!(system.as_deref(), Some("You are terse."));
        assert_eq!(user, "Summarize ABC!!");
    }

    #[test]
    fn a_missing_variable_is_named_and_a_syntax_error_has_its_line() {
        let t = Templates::new(&inline("Hi {{ name }}"), None).unwrap();
        let err = t.render(&row(json!({"nmae": "x"}))).unwrap_err();
        assert!(err.contains("{{ name }}"), "{err}");
        let err = Templates::new(
            &TemplateSource {
                name: "prompt.j2".into(),
                text: "line one\n{{ oops".into(),
            },
            None,
        )
        .err()
        .unwrap();
        assert!(err.starts_with("prompt.j2: line 2: syntax error"), "{err}");
    }

    #[test]
    fn a_name_that_is_neither_a_file_nor_a_template_is_refused() {
        let err = TemplateSource::from_arg("--template", "promt.j2").unwrap_err();
        assert!(err.contains("no such file"), "{err}");
        assert_eq!(
            TemplateSource::from_arg("--template", "Say {{ x }}").unwrap().name,
            "--template"
        );
    }
}
