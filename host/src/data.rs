//! The shared data folders (golden checkpoints, event recordings) that live outside the
//! repository: `SDT_GOLDEN_DIR` / `SDT_EVENTS_DIR`, by default `shared/golden` and
//! `shared/events` next to the repository checkout.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One of the shared data folders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDir {
    /// Golden checkpoints and their reference inputs/outputs.
    Golden,
    /// Real event-camera recordings.
    Events,
}

impl DataDir {
    /// The environment variable that overrides the folder.
    pub fn variable(self) -> &'static str {
        match self {
            DataDir::Golden => "SDT_GOLDEN_DIR",
            DataDir::Events => "SDT_EVENTS_DIR",
        }
    }

    /// The folder when the variable is unset: `../shared/<name>` from the repository root.
    pub fn default_path(self) -> PathBuf {
        let name = match self {
            DataDir::Golden => "golden",
            DataDir::Events => "events",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared")
            .join(name)
    }

    /// The folder: from its variable, else the default; an error says how to set it.
    pub fn path(self) -> Result<PathBuf> {
        let var = self.variable();
        let dir = std::env::var_os(var).map_or_else(|| self.default_path(), PathBuf::from);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::MissingData(format!(
                "data folder {} not found: set {var} to the shared folder (e.g. \
                 {var}=$PWD/../shared/{} from the repository root)",
                dir.display(),
                dir.file_name().map_or("".into(), |n| n.to_string_lossy())
            )))
        }
    }

    /// A file in the folder; an error says which file is missing and how to point at it.
    pub fn file(self, name: &str) -> Result<PathBuf> {
        let path = self.path()?.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::MissingData(format!(
                "{} is missing ({} points at the wrong folder?)",
                path.display(),
                self.variable()
            )))
        }
    }

    /// [`DataDir::file`] for tests: a missing prerequisite fails the test with the reason,
    /// it never skips it.
    #[track_caller]
    pub fn require(self, name: &str) -> PathBuf {
        self.file(name).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A file of the golden data folder.
pub fn golden_file(name: &str) -> Result<PathBuf> {
    DataDir::Golden.file(name)
}

/// A file of the events folder.
pub fn events_file(name: &str) -> Result<PathBuf> {
    DataDir::Events.file(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_say_which_variable_to_set() {
        let err = DataDir::Events.file("no-such-recording.raw").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SDT_EVENTS_DIR"), "{text}");
    }

    #[test]
    fn default_folders_sit_next_to_the_checkout() {
        let golden = DataDir::Golden.default_path();
        assert!(golden.ends_with("shared/golden"), "{}", golden.display());
        assert!(golden.starts_with(env!("CARGO_MANIFEST_DIR")));
    }
}
