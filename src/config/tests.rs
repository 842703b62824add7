//! Tests of config resolution: precedence and error messages.
