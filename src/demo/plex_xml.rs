//! Plex's default answer format: a `MediaContainer` as XML, as a real Plex Media Server sends
//! it to a client that does not ask for JSON (python-plexapi, Plex Web's older clients).
//!
//! The demo builds every answer as the JSON form (`{"MediaContainer": {…}}`); this turns that
//! form into the XML one by the rules both formats share on a real server:
//! - scalar fields become attributes of the element (booleans `1`/`0`, as Plex writes them);
//! - an array of objects becomes one child element per object, named by its key (`Directory`,
//!   `Media`, `Part`, `Stream`, `Hub`, `Guid`, …), except `Metadata`, whose elements are named
//!   by the item's type: `Video` for movies, episodes and clips, `Directory` for shows, seasons,
//!   artists, albums and collections, `Track` and `Photo` (the JSON form merged them into one
//!   array; python-plexapi picks its classes by tag and `type`);
//! - an object becomes one child element named by its key (`Player`, `Session`, `User` of a
//!   session);
//! - `null` is left out.

use serde_json::Value;

/// The XML document for a `MediaContainer` object (the value of the JSON form's
/// `MediaContainer` key).
pub(crate) fn media_container(container: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    element(&mut out, "MediaContainer", container);
    out.push('\n');
    out
}

/// The XML element name of one `Metadata` entry.
fn metadata_tag(item: &Value) -> &'static str {
    match item.get("type").and_then(Value::as_str) {
        Some("movie" | "episode" | "clip" | "trailer") => "Video",
        Some("track") => "Track",
        Some("photo") => "Photo",
        _ => "Directory",
    }
}

fn element(out: &mut String, tag: &str, value: &Value) {
    out.push('<');
    out.push_str(tag);
    let mut children: Vec<(&str, &Value)> = Vec::new();
    if let Some(obj) = value.as_object() {
        for (k, v) in obj {
            let text = match v {
                Value::Null => continue,
                Value::Bool(b) => (if *b { "1" } else { "0" }).to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
                    // A list of plain values (rare): Plex joins them with commas.
                    a.iter()
                        .map(|x| match x {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                }
                Value::Array(_) | Value::Object(_) => {
                    children.push((k.as_str(), v));
                    continue;
                }
            };
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(out, &text);
            out.push('"');
        }
    }
    if children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for (k, v) in children {
        match v {
            Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    let tag = if k == "Metadata" {
                        metadata_tag(item)
                    } else {
                        k
                    };
                    element(out, tag, item);
                }
            }
            other => element(out, k, other),
        }
    }
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// Escape an attribute value (quotes, markup, and the whitespace XML would normalise away).
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // Not allowed in XML 1.0 at all: left out.
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_become_plex_xml() {
        let xml = media_container(&json!({
            "size": 2,
            "allowSync": true,
            "title1": "A \"quoted\" <title> & more",
            "nothing": null,
            "Metadata": [
                {"type": "episode", "ratingKey": "12", "Media": [{"id": 1, "Part": [{"id": 2}]}]},
                {"type": "show", "ratingKey": "10", "Guid": [{"id": "tvdb://1"}]},
            ],
            "Player": {"state": "playing"},
        }));
        // (serde_json keeps keys sorted: attributes and children come in that order.)
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer allowSync=\"1\" \
             size=\"2\" title1=\"A &quot;quoted&quot; &lt;title&gt; &amp; more\">\
             <Video ratingKey=\"12\" type=\"episode\"><Media id=\"1\"><Part id=\"2\"/></Media>\
             </Video><Directory ratingKey=\"10\" type=\"show\"><Guid id=\"tvdb://1\"/>\
             </Directory><Player state=\"playing\"/></MediaContainer>\n"
        );
    }
}
