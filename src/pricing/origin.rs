//! Where sheepdog loaded a price from: the built-in table, a `--prices` file (LiteLLM's JSON or
//! sheepdog's TOML), or the job file's `[prices]`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a price was loaded from. Serialized as its label (`built-in prices.toml`, the file's
/// path, or `job config`), as `sheepdog estimate --json` has always shown it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum PriceOrigin {
    /// The table compiled into sheepdog (`prices.toml`); each price says its source and date.
    BuiltIn,
    /// A LiteLLM price file given with `--prices`, by path.
    LiteLlm(String),
    /// A sheepdog TOML price file given with `--prices`, by path.
    PriceFile(String),
    /// The job file's `[prices]`, by path; `None` when the configuration came from no file.
    JobFile(Option<String>),
}

const BUILT_IN: &str = "built-in prices.toml";
const NO_FILE: &str = "job config";

impl PriceOrigin {
    /// The job file at `path`, or no file when `path` is empty.
    pub fn job_file(path: &str) -> PriceOrigin {
        PriceOrigin::JobFile((!path.is_empty()).then(|| path.to_string()))
    }

    /// What errors and a price without a `source` call it.
    pub fn label(&self) -> &str {
        match self {
            PriceOrigin::BuiltIn => BUILT_IN,
            PriceOrigin::LiteLlm(path) | PriceOrigin::PriceFile(path) | PriceOrigin::JobFile(Some(path)) => path,
            PriceOrigin::JobFile(None) => NO_FILE,
        }
    }
}

impl Default for PriceOrigin {
    /// A price read back without an origin came from the job's configuration.
    fn default() -> PriceOrigin {
        PriceOrigin::JobFile(None)
    }
}

impl fmt::Display for PriceOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl From<PriceOrigin> for String {
    fn from(origin: PriceOrigin) -> String {
        origin.label().to_string()
    }
}

impl From<String> for PriceOrigin {
    /// From a label read back: the file kind is not in it, so any path reads as a price file.
    fn from(label: String) -> PriceOrigin {
        match label.as_str() {
            BUILT_IN => PriceOrigin::BuiltIn,
            "" | NO_FILE => PriceOrigin::JobFile(None),
            _ => PriceOrigin::PriceFile(label),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_serialize_as_their_labels_and_read_back() {
        let cases = [
            (PriceOrigin::BuiltIn, "\"built-in prices.toml\""),
            (PriceOrigin::PriceFile("p.toml".into()), "\"p.toml\""),
            (PriceOrigin::JobFile(None), "\"job config\""),
        ];
        for (origin, json) in cases {
            assert_eq!(serde_json::to_string(&origin).unwrap(), json);
            assert_eq!(serde_json::from_str::<PriceOrigin>(json).unwrap(), origin);
        }
        assert_eq!(PriceOrigin::LiteLlm("m.json".into()).label(), "m.json");
        assert_eq!(PriceOrigin::job_file(""), PriceOrigin::JobFile(None));
        assert_eq!(PriceOrigin::job_file("job.toml").label(), "job.toml");
    }
}
