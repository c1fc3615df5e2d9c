//! `boltzflow plugin-worker` (hidden): serves one plugin over stdin and stdout for a parent
//! `boltzflow` that runs it isolated (`isolate: true`); see [`crate::energy::worker`].

use crate::Result;

/// Serves the plugin the parent names in its first message, until stdin closes.
pub fn run() -> Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    crate::energy::worker::serve(&mut stdin.lock(), &mut stdout.lock())
}
