//! How a command ends, as the exit code users and scripts see. The numbers live here and only
//! here; every error type says which of these it means (`exit()`), and the binary turns it into
//! the process's code.

/// The four ways a sheepdog command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything succeeded.
    Success,
    /// 1: some items failed, some lines were invalid, or a threshold was crossed; the reports
    /// are written.
    Failed,
    /// 2: bad usage, job file or input file, or a run folder locked by another process;
    /// nothing was sent.
    Usage,
    /// 3: aborted: a fatal provider error (refused key, no quota), a dead endpoint, an interrupt
    /// or a failed write to the run folder. A run folder can be resumed.
    Aborted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Aborted => 3,
        }
    }

    /// `Failed` when `failed`, else `Success`.
    pub fn failed_if(failed: bool) -> Exit {
        if failed {
            Exit::Failed
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn the_codes_are_the_documented_ones() {
        let codes: Vec<u8> = [Exit::Success, Exit::Failed, Exit::Usage, Exit::Aborted]
            .into_iter()
            .map(Exit::code)
            .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        assert_eq!(Exit::failed_if(true), Exit::Failed);
        assert_eq!(Exit::failed_if(false), Exit::Success);
    }
}
