//! Progress bars of long-running commands.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps with the indicatif `template` (`=> ` progress characters), or a hidden
/// one when `show` is false (tests, library use).
pub fn bar(show: bool, len: u64, template: &str) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Prints `line` above `bar`, or on stderr when the bar is hidden (no terminal), so that logs of
/// runs without a terminal keep it too.
pub fn println(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
