//! Progress bars on a terminal; nothing otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws one bar per resource on stderr when enabled.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Enables bars only when asked and stderr is a terminal, so cron mail and logs stay clean.
    pub fn new(enabled: bool) -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let multi = (enabled && terminal).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    pub fn hidden() -> Progress {
        Progress { multi: None }
    }

    /// Returns a bar for one resource, hidden when progress is off.
    pub fn bar(&self, name: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let style = ProgressStyle::with_template("{prefix:>16} {bar:30} {pos:>7}/{len:7} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
        let bar = multi.add(ProgressBar::new(0).with_style(style));
        bar.set_prefix(name.to_string());
        bar
    }
}
