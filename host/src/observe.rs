//! Where what a person should see goes: the library never prints; each
//! front end gives an [`Observer`] and decides where lines go.

/// Hears what a person watching should see: refusals, limits reached,
/// notes. The library never prints; a front end decides where lines go.
pub trait Observer: Send + Sync {
    /// A line for the person (without any prefix; it may quote what a
    /// command chose, so escape it before showing it on a terminal).
    fn note(&self, line: &str);
    /// A line of detail (the layers a command ran under, the variables
    /// left out of its environment), worth showing when asked to say more.
    fn detail(&self, line: &str) {
        let _ = line;
    }
}

/// An observer that keeps nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn note(&self, _: &str) {}
}
