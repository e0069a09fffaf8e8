//! How dnsteer's record values and weighted sets map to NS1 answers: the answer
//! fields of each type, the quoting of TXT and CAA text, and the metadata and filter
//! chain that carry a weighted record's sets.

use crate::record::{normalize_name, RecordType};

/// What marks an answer as one of a dnsteer set's: `meta.note` = this, then the set id.
pub(super) const SET_MARKER: &str = "dnsteer-set=";

/// The filter chain of a weighted record: answers that are down dropped, then one
/// answer picked at random by weight.
pub(super) fn weighted_filter_chain() -> serde_json::Value {
    serde_json::json!([
        {"filter": "up", "config": {}},
        {"filter": "weighted_shuffle", "config": {}},
        {"filter": "select_first_n", "config": {"N": 1}},
    ])
}

/// The metadata of an answer of set `id`. NS1 documents a weight as a positive
/// number, so weight 0 (no traffic) is written as `up: false`, which the `up` filter
/// drops, and read back as 0.
pub(super) fn weight_meta(id: &str, weight: u32) -> serde_json::Map<String, serde_json::Value> {
    let mut meta = serde_json::Map::new();
    meta.insert("note".into(), format!("{SET_MARKER}{id}").into());
    if weight == 0 {
        meta.insert("up".into(), false.into());
    } else {
        meta.insert("up".into(), true.into());
        meta.insert("weight".into(), weight.into());
    }
    meta
}

/// The dnsteer set an answer belongs to, from its `meta.note`.
pub(super) fn set_marker(meta: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    meta.get("note")?.as_str()?.strip_prefix(SET_MARKER).map(str::to_string)
}

/// An answer's weight as dnsteer reads it: 0 when it is down, else `meta.weight`
/// (NS1 treats an answer without one as weight 1).
pub(super) fn answer_weight(meta: &serde_json::Map<String, serde_json::Value>) -> u32 {
    if meta.get("up").and_then(serde_json::Value::as_bool) == Some(false) {
        return 0;
    }
    meta.get("weight")
        .and_then(serde_json::Value::as_f64)
        .map_or(1, |w| w.round().clamp(0.0, f64::from(u32::MAX)) as u32)
}

/// A name as NS1 spells it: no trailing dot.
pub(super) fn bare(name: &str) -> &str {
    let trimmed = name.trim_end_matches('.');
    if trimmed.is_empty() {
        name
    } else {
        trimmed
    }
}

pub(super) fn field_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The rdata fields of one answer from a short answer (its fields joined by spaces).
pub(super) fn read_short(rtype: &RecordType, short: &str) -> String {
    let fields: Vec<String> = match rtype {
        RecordType::Mx => short.splitn(2, ' ').map(str::to_string).collect(),
        RecordType::Srv => short.splitn(4, ' ').map(str::to_string).collect(),
        RecordType::Caa => short.splitn(3, ' ').map(str::to_string).collect(),
        _ => vec![short.to_string()],
    };
    read_value(rtype, &fields)
}

/// dnsteer's value from NS1's rdata fields: TXT quoted as in a zone file, a CAA value
/// quoted, other fields joined by spaces.
pub(super) fn read_value(rtype: &RecordType, fields: &[String]) -> String {
    match (rtype, fields) {
        (RecordType::Txt, [text]) => quote(text),
        (RecordType::Caa, [flags, tag, value]) => format!("{flags} {tag} {}", quote(value)),
        _ => fields.join(" "),
    }
}

pub(super) fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A quoted string's text; anything else as it is.
pub(super) fn unquote(value: &str) -> String {
    let v = value.trim();
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_string(),
    }
}

/// NS1's answer fields for one value: numbers where the rdata has numbers (MX
/// preference; SRV priority, weight, port; CAA flags), names without the trailing dot.
pub(super) fn answer_fields(rtype: &RecordType, value: &str) -> Vec<serde_json::Value> {
    use serde_json::Value;
    let number = |s: &str| {
        s.parse::<u64>()
            .map_or_else(|_| Value::String(s.to_string()), Value::from)
    };
    let name = |s: &str| Value::String(bare(s).to_string());
    let parts: Vec<&str> = value.split_whitespace().collect();
    match (rtype, parts.as_slice()) {
        (RecordType::Mx, [pref, host]) => vec![number(pref), name(host)],
        (RecordType::Srv, [p, w, port, target]) => vec![number(p), number(w), number(port), name(target)],
        (RecordType::Caa, _) => match caa_parts(value) {
            Some((flags, tag, v)) => vec![Value::from(flags), Value::String(tag.into()), Value::String(v)],
            None => vec![Value::String(value.to_string())],
        },
        (RecordType::Txt, _) => vec![Value::String(unquote(value))],
        (RecordType::Cname | RecordType::Ns | RecordType::Ptr, _) => vec![name(value)],
        _ => vec![Value::String(value.to_string())],
    }
}

/// SRV `priority weight port target` with an absolute target; CAA `flags tag "value"`
/// with the value quoted. Anything else, or a value that does not fit, is left as is.
pub(super) fn canonical(rtype: &RecordType, value: &str) -> String {
    match rtype {
        RecordType::Srv => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            match parts.as_slice() {
                [p, w, port, target] => {
                    let target = normalize_name(target).unwrap_or_else(|_| target.to_string());
                    format!("{p} {w} {port} {target}")
                }
                _ => value.to_string(),
            }
        }
        RecordType::Caa => match caa_parts(value) {
            Some((flags, tag, v)) => format!("{flags} {tag} {}", quote(&v)),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// A CAA value's flags, tag and value (its quotes taken off).
pub(super) fn caa_parts(value: &str) -> Option<(u8, &str, String)> {
    let (flags, rest) = value.trim().split_once(char::is_whitespace)?;
    let (tag, v) = rest.trim_start().split_once(char::is_whitespace)?;
    Some((flags.parse().ok()?, tag, unquote(v)))
}
