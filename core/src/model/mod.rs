//! The domain model: people, roster entries, classes, attendance and
//! obligation events, as plain Rust values.
//!
//! Nothing here knows about prost, sled or files. Every constructor that takes
//! outside input validates it, and [`Record::validate`] checks a whole record
//! against the same bounds whether it came from a spreadsheet or a child's
//! batch, so an absurd value is refused at every door.

mod choices;
mod person;
mod quantities;
mod records;
mod values;

pub use choices::*;
pub use person::*;
pub use quantities::*;
pub use records::*;
pub use values::*;

#[cfg(test)]
mod tests;
