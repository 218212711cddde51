//! Harness for end-to-end tests of lunxun hierarchies.
