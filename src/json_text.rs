//! JSON written by hand on the paths that run for every request (a request's body, a result's
//! line): the bytes `serde_json` writes, but a string with nothing to escape is copied whole
//! rather than looked at byte by byte, and numbers go through `itoa` and `serde_json`'s float
//! writer without a serializer around them.

/// `text` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    if needs_escape(text.as_bytes()) {
        return serde_json::to_writer(&mut *out, text);
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

/// Whether JSON escapes a byte of `bytes`: a quote, a backslash or a control character (below
/// 0x20); the same set `serde_json` escapes. The bytes are checked a block at a time without a
/// branch per byte, which the compiler turns into vector compares: a long prompt costs a small
/// fraction of an instruction per byte.
///
/// The last bytes (most strings of a request are shorter than a block: keys, roles, a model)
/// are checked as a block too, padded with spaces, rather than one by one.
fn needs_escape(bytes: &[u8]) -> bool {
    let escaped = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let any_escaped = |block: &[u8; 64]| block.iter().fold(false, |any, &b| any | escaped(b));
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        if block.try_into().is_ok_and(any_escaped) {
            return true;
        }
    }
    let rest = blocks.remainder();
    let mut last = [b' '; 64];
    last[..rest.len()].copy_from_slice(rest);
    any_escaped(&last)
}

/// An integer.
pub(crate) fn write_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A float as `serde_json` writes it (`500.0`, `0.3`), `null` when not finite.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, &v)
}

/// A number, or `null`.
pub(crate) fn write_opt_f64(out: &mut Vec<u8>, v: Option<f64>) -> serde_json::Result<()> {
    match v {
        Some(v) => write_f64(out, v),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_byte_is_found_wherever_it_stands_in_a_long_string() {
        let plain = "abcdefghij".repeat(20);
        assert!(!needs_escape(plain.as_bytes()));
        for at in 0..plain.len() {
            for byte in [b'"', b'\\', b'\n', 0, 0x1f] {
                let mut text = plain.clone().into_bytes();
                text[at] = byte;
                assert!(needs_escape(&text), "byte {byte} at {at}");
            }
            let mut text = plain.clone().into_bytes();
            text[at] = 0x20;
            assert!(!needs_escape(&text), "a space at {at}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(text in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut out = Vec::new();
            write_str(&mut out, &text).unwrap();
            proptest::prop_assert_eq!(out, serde_json::to_vec(&text).unwrap());
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [
            0.0,
            500.0,
            0.1 + 0.2,
            2250.5,
            1e-7,
            1e21,
            123_456.789,
            -0.0,
            f64::NAN,
            f64::INFINITY,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v).unwrap();
            assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{v}");
        }
        let mut out = Vec::new();
        write_opt_f64(&mut out, None).unwrap();
        write_int(&mut out, u64::MAX);
        assert_eq!(out, b"null18446744073709551615");
    }
}
