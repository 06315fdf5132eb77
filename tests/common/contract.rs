//! Contract checks against the official Jellyfin 10.11.11 OpenAPI document.
//!
//! Every request the Playmark client sends and every response the fake server
//! (`src/demo/`) returns can be checked here against a trimmed copy of the document,
//! `tests/contract/jellyfin-10.11.11-trimmed.json` (made by `tests/contract/trim-spec.sh`).
//!
//! ```ignore
//! mod common;
//! use common::contract::Spec;
//!
//! let spec = Spec::jellyfin();
//! spec.assert_request("GET", "/Items?userId=…&recursive=true", None);
//! spec.assert_response("GET", "/Items", 200, Some(&body));
//! ```
//!
//! # Why not a JSON Schema crate
//! OpenAPI 3.0 schema objects are a dialect of JSON Schema, not JSON Schema: `nullable: true`
//! means "also null" (a JSON Schema validator would reject `null` for `type: string`), `$ref`s
//! point into `#/components/schemas` of the surrounding document rather than being standalone
//! schemas, `discriminator` selects a `oneOf` branch, and formats such as `int32`/`int64`/`uuid`
//! are ignored by JSON Schema validators by default. Query parameters also arrive as strings that
//! must first be parsed according to their schema (booleans, integers, comma-delimited arrays of
//! enums), which no JSON Schema validator does. The document uses only a small subset of the
//! vocabulary (`type`, `format`, `enum`, `nullable`, `properties`, `additionalProperties`,
//! `required`, `items`, `$ref`, `allOf`, `oneOf`+`discriminator`), so checking it by hand over
//! `serde_json` is shorter and clearer than adapting a general validator.
//!
//! # Strictness
//! The checks are deliberately stricter than a real Jellyfin server where that keeps the client
//! and the fake honest: path segments, body property names and enum values must match the
//! document's spelling exactly; booleans must be `true`/`false`; dates must be RFC 3339. Query
//! parameter *names* are matched case-insensitively, as Jellyfin's model binder does.

use serde_json::Value;

/// Path or query parameters as (name, raw value) pairs.
pub type Params = Vec<(String, String)>;

/// The OpenAPI document plus an index of its operations.
pub struct Spec {
    doc: Value,
    ops: Vec<Operation>,
}

/// One operation (method + path template) of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId`, e.g. `UpdateItemUserData`.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/UserItems/{itemId}/UserData`.
    pub template: String,
    def: Value,
}

impl Operation {
    /// The raw OpenAPI operation object.
    pub fn definition(&self) -> &Value {
        &self.def
    }

    fn params(&self, location: &str) -> impl Iterator<Item = &Value> {
        let location = location.to_owned();
        self.def["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |p| p["in"] == location.as_str())
    }

    fn label(&self) -> String {
        format!("{} {} ({})", self.method, self.template, self.id)
    }
}

const TRIMMED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contract/jellyfin-10.11.11-trimmed.json"
));

impl Spec {
    /// The trimmed Jellyfin 10.11.11 document committed in `tests/contract/`.
    pub fn jellyfin() -> Spec {
        Spec::from_value(serde_json::from_str(TRIMMED).expect("trimmed spec is valid JSON"))
    }

    /// Build from any OpenAPI 3.0 document.
    pub fn from_value(doc: Value) -> Spec {
        let mut ops = Vec::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, def) in item.as_object().into_iter().flatten() {
                if def.get("responses").is_none() {
                    continue; // `parameters`, `summary`… at path-item level
                }
                ops.push(Operation {
                    id: def["operationId"].as_str().unwrap_or_default().to_owned(),
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    def: def.clone(),
                });
            }
        }
        Spec { doc, ops }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    /// Check one request. `path` is the URL path without the query, `query` the url-decoded
    /// pairs in order, `body` the parsed JSON body if one was sent.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<&Operation, Vec<String>> {
        let (op, path_params) = self.find(method, path)?;
        let mut errs = Vec::new();

        for (name, value) in &path_params {
            if let Some(p) = op.params("path").find(|p| p["name"] == name.as_str()) {
                self.check_param(p, value, &format!("path `{name}`"), &mut errs);
            }
        }

        let declared: Vec<&Value> = op.params("query").collect();
        let param_name = |p: &Value| p["name"].as_str().unwrap_or_default().to_owned();
        for (name, value) in query {
            match declared
                .iter()
                .find(|p| param_name(p).eq_ignore_ascii_case(name))
            {
                Some(p) => self.check_param(p, value, &format!("query `{name}`"), &mut errs),
                None => errs.push(format!("query `{name}`: not a parameter of this operation")),
            }
        }
        for p in &declared {
            let name = param_name(p);
            let count = query
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
                .count();
            if count == 0 && p["required"] == true {
                errs.push(format!("query `{name}`: required but missing"));
            }
            if count > 1 && self.type_of(&p["schema"]) != Some("array") {
                errs.push(format!(
                    "query `{name}`: given {count} times but is not an array"
                ));
            }
        }

        let request_body = op.def.get("requestBody");
        match (request_body, body) {
            (None, Some(_)) => errs.push("body: this operation takes no request body".into()),
            (Some(rb), None) if rb["required"] == true => {
                errs.push("body: required but missing".into())
            }
            (Some(rb), Some(body)) => match json_schema(&rb["content"]) {
                Some(schema) => self.check_value(schema, body, "body", &mut errs),
                None => errs.push("body: the operation declares no application/json body".into()),
            },
            _ => {}
        }

        if errs.is_empty() {
            Ok(op)
        } else {
            Err(prefixed(op, errs))
        }
    }

    /// Like [`Spec::check_request`] but takes the request target (`/Items?userId=…&limit=5`),
    /// splitting and url-decoding the query.
    pub fn check_request_uri(
        &self,
        method: &str,
        target: &str,
        body: Option<&Value>,
    ) -> Result<&Operation, Vec<String>> {
        let (path, query) = split_target(target);
        self.check_request(method, path, &query, body)
    }

    /// Check a response the fake server returned for the operation at `method` + `path`
    /// (the concrete path, as for requests).
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let (op, _) = self.find(method, path)?;
        let responses = &op.def["responses"];
        let declared = responses
            .get(status.to_string())
            .or_else(|| responses.get(format!("{}XX", status / 100)))
            .or_else(|| responses.get("default"));
        let Some(declared) = declared else {
            let known: Vec<&String> = responses
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            return Err(prefixed(
                op,
                vec![format!(
                    "status {status} is not declared (declared: {known:?})"
                )],
            ));
        };
        let mut errs = Vec::new();
        match (json_schema(&declared["content"]), body) {
            (Some(schema), Some(body)) => self.check_value(schema, body, "body", &mut errs),
            (Some(_), None) => {
                errs.push(format!("status {status} declares a JSON body, none given"))
            }
            (None, Some(_)) => {
                errs.push(format!("status {status} declares no JSON body, one given"))
            }
            (None, None) => {}
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(prefixed(op, errs))
        }
    }

    /// Check a JSON value against a named schema of `components.schemas`.
    pub fn check_schema(&self, name: &str, value: &Value) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        match self.doc["components"]["schemas"].get(name) {
            Some(schema) => self.check_value(schema, value, name, &mut errs),
            None => errs.push(format!("no schema named `{name}`")),
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// [`Spec::check_request_uri`], panicking with all findings.
    pub fn assert_request(&self, method: &str, target: &str, body: Option<&Value>) -> &Operation {
        self.check_request_uri(method, target, body)
            .unwrap_or_else(|e| {
                panic!(
                    "request {method} {target} breaks the contract:\n  {}",
                    e.join("\n  ")
                )
            })
    }

    /// [`Spec::check_response`], panicking with all findings.
    pub fn assert_response(&self, method: &str, path: &str, status: u16, body: Option<&Value>) {
        let path = split_target(path).0;
        if let Err(e) = self.check_response(method, path, status, body) {
            panic!(
                "response {status} to {method} {path} breaks the contract:\n  {}",
                e.join("\n  ")
            );
        }
    }

    /// The operation for `method` + concrete `path`, and the path parameters it binds.
    /// When several templates match, the one with most literal segments wins.
    fn find(&self, method: &str, path: &str) -> Result<(&Operation, Params), Vec<String>> {
        let mut candidates: Vec<(&Operation, Params)> = self
            .ops
            .iter()
            .filter_map(|op| match_template(&op.template, path).map(|params| (op, params)))
            .collect();
        if candidates.is_empty() {
            return Err(vec![format!(
                "{method} {path}: no such path in the document"
            )]);
        }
        candidates.sort_by_key(|(_, params)| params.len());
        let best = candidates[0].0.template.clone();
        candidates.retain(|(op, _)| op.template == best);
        let allowed: Vec<&str> = candidates
            .iter()
            .map(|(op, _)| op.method.as_str())
            .collect();
        match candidates
            .iter()
            .position(|(op, _)| op.method.eq_ignore_ascii_case(method))
        {
            Some(i) => Ok(candidates.swap_remove(i)),
            None => Err(vec![format!(
                "{method} {path}: method not allowed on {best} (allowed: {})",
                allowed.join(", ")
            )]),
        }
    }

    fn check_param(&self, param: &Value, raw: &str, at: &str, errs: &mut Vec<String>) {
        let schema = &param["schema"];
        self.check_value(schema, &self.text_to_json(schema, raw), at, errs);
    }

    /// Parse a path/query string into the JSON value the schema describes, so that the same
    /// checker serves both. What does not parse stays a string and fails the type check.
    fn text_to_json(&self, schema: &Value, raw: &str) -> Value {
        match self.type_of(schema) {
            Some("array") => {
                let items = self.deref(schema).get("items").unwrap_or(&Value::Null);
                Value::Array(
                    raw.split(',')
                        .map(|part| self.text_to_json(items, part))
                        .collect(),
                )
            }
            Some("integer") => raw.parse::<i64>().map_or_else(|_| raw.into(), Value::from),
            Some("number") => raw.parse::<f64>().map_or_else(|_| raw.into(), Value::from),
            Some("boolean") => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => raw.into(),
            },
            _ => raw.into(),
        }
    }

    /// Follow `$ref`s (and a lone `allOf` wrapper) to the schema that carries `type`.
    fn deref<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            if let Some(target) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| self.resolve(r))
            {
                schema = target;
            } else if let (None, Some([only])) = (
                schema.get("type"),
                schema
                    .get("allOf")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice),
            ) {
                schema = only;
            } else {
                break;
            }
        }
        schema
    }

    fn type_of<'a>(&'a self, schema: &'a Value) -> Option<&'a str> {
        self.deref(schema).get("type").and_then(Value::as_str)
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        self.doc.pointer(reference.strip_prefix('#')?)
    }

    /// The core: does `v` fit the OpenAPI 3.0 schema object `schema`? Findings go to `errs`,
    /// each prefixed with `at` (a readable location such as `body.Items[3].UserData.Played`).
    fn check_value(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            // OpenAPI 3.0: siblings of `$ref` are ignored.
            match self.resolve(reference) {
                Some(target) => self.check_value(target, v, at, errs),
                None => errs.push(format!("{at}: unresolvable $ref {reference}")),
            }
            return;
        }
        if v.is_null() && schema["nullable"] == true {
            return;
        }
        for sub in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check_value(sub, v, at, errs);
        }
        if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
            self.check_one_of(schema, alternatives, v, at, errs);
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.contains(v) {
                let shown: Vec<String> = values.iter().take(8).map(Value::to_string).collect();
                let more = if values.len() > 8 { ", …" } else { "" };
                errs.push(format!(
                    "{at}: {v} is not one of [{}{more}]",
                    shown.join(", ")
                ));
            }
        }
        let format = schema.get("format").and_then(Value::as_str);
        match schema.get("type").and_then(Value::as_str) {
            None => {}
            Some("object") => self.check_object(schema, v, at, errs),
            Some("array") => match v.as_array() {
                Some(items) => {
                    let item_schema = schema.get("items").unwrap_or(&Value::Null);
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item_schema, item, &format!("{at}[{i}]"), errs);
                    }
                }
                None => errs.push(type_error(at, "array", v)),
            },
            Some("string") => match v.as_str() {
                Some(s) => check_string_format(format, s, at, errs),
                None => errs.push(type_error(at, "string", v)),
            },
            Some("integer") => {
                let fits = match format {
                    Some("int32") => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                    _ => v.is_i64(),
                };
                if !fits {
                    errs.push(type_error(
                        at,
                        &format!("integer ({})", format.unwrap_or("int64")),
                        v,
                    ));
                }
            }
            Some("number") if !v.is_number() => errs.push(type_error(at, "number", v)),
            Some("boolean") if !v.is_boolean() => errs.push(type_error(at, "boolean", v)),
            Some("number" | "boolean") => {}
            Some(other) => errs.push(format!(
                "{at}: schema type `{other}` not supported by the checker"
            )),
        }
    }

    fn check_object(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(obj) = v.as_object() else {
            errs.push(type_error(at, "object", v));
            return;
        };
        let props = schema.get("properties").and_then(Value::as_object);
        for (key, value) in obj {
            let here = format!("{at}.{key}");
            if let Some(prop) = props.and_then(|p| p.get(key)) {
                self.check_value(prop, value, &here, errs);
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let hint = props
                        .and_then(|p| p.keys().find(|k| k.eq_ignore_ascii_case(key)))
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    errs.push(format!(
                        "{here}: unknown property (additionalProperties: false){hint}"
                    ));
                }
                Some(extra @ Value::Object(_)) => self.check_value(extra, value, &here, errs),
                _ => {}
            }
        }
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str().filter(|n| !obj.contains_key(*n)) {
                errs.push(format!("{at}.{name}: required property missing"));
            }
        }
    }

    /// `oneOf`: the `discriminator` mapping picks the branch when it can, otherwise exactly
    /// one alternative must fit.
    fn check_one_of(
        &self,
        schema: &Value,
        alternatives: &[Value],
        v: &Value,
        at: &str,
        errs: &mut Vec<String>,
    ) {
        let discriminator = &schema["discriminator"];
        let mapped = discriminator["propertyName"]
            .as_str()
            .and_then(|prop| v.get(prop))
            .and_then(Value::as_str)
            .and_then(|tag| discriminator["mapping"].get(tag))
            .and_then(Value::as_str);
        if let Some(reference) = mapped {
            self.check_value(&serde_json::json!({ "$ref": reference }), v, at, errs);
            return;
        }
        let fitting = alternatives
            .iter()
            .filter(|alt| {
                let mut e = Vec::new();
                self.check_value(alt, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if fitting != 1 {
            errs.push(format!(
                "{at}: fits {fitting} of {} oneOf alternatives, expected exactly 1",
                alternatives.len()
            ));
        }
    }
}

fn check_string_format(format: Option<&str>, s: &str, at: &str, errs: &mut Vec<String>) {
    let ok = match format {
        Some("uuid") => is_uuid(s),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => true, // "text", "binary", none: any string
    };
    if !ok {
        errs.push(format!(
            "{at}: {s:?} is not a valid {}",
            format.unwrap_or("string")
        ));
    }
}

/// 32 hex digits (as Jellyfin prints ids) or the dashed 8-4-4-4-12 form.
pub fn is_uuid(s: &str) -> bool {
    let hex = |c: char| c.is_ascii_hexdigit();
    match s.len() {
        32 => s.chars().all(hex),
        36 => s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                hex(c)
            }
        }),
        _ => false,
    }
}

/// Split `/path?a=1&b=x%20y` into the path and url-decoded query pairs.
pub fn split_target(target: &str) -> (&str, Params) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (path, pairs)
}

/// Bind `path` to `template`; `None` if they do not match. Literal segments match exactly.
fn match_template(template: &str, path: &str) -> Option<Params> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (t, p) in t.iter().zip(&p) {
        match t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !p.is_empty() => params.push((name.to_owned(), (*p).to_owned())),
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// The `application/json` schema of a `content` map, if any.
fn json_schema(content: &Value) -> Option<&Value> {
    content.get("application/json")?.get("schema")
}

fn type_error(at: &str, expected: &str, got: &Value) -> String {
    let mut shown = got.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(60).chain(['…']).collect();
    }
    format!("{at}: expected {expected}, got {shown}")
}

fn prefixed(op: &Operation, errs: Vec<String>) -> Vec<String> {
    let label = op.label();
    errs.into_iter().map(|e| format!("{label}: {e}")).collect()
}

/// Contract checks of requests against the Plex Media Server API document (community OpenAPI
/// 1.1.1, trimmed to the operations Playmark uses by `tests/contract/trim-plex-spec.py` into
/// `tests/contract/plex-1.1.1-trimmed.json`).
///
/// A request fits when: its path matches an operation's template; its verb is the documented
/// one or one the trimmed file lists under `x-playmark-also-accepts` (GET for scrobble,
/// unscrobble and timeline: what real servers accept, see `specs/plex-ops.md`); every query
/// parameter is declared (an exploded form object such as `mediaQuery` declares its
/// properties); integer parameters parse as integers and enum values are allowed; required
/// query and header parameters are present; and the token travels as the `X-Plex-Token` header
/// (never in the URL) on every operation that is not public.
pub struct PlexSpec {
    doc: Value,
}

impl PlexSpec {
    /// The trimmed document.
    pub fn load() -> PlexSpec {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/contract/plex-1.1.1-trimmed.json"
        );
        let text = std::fs::read_to_string(path).expect("trimmed Plex spec readable");
        PlexSpec {
            doc: serde_json::from_str(&text).expect("trimmed Plex spec is JSON"),
        }
    }

    /// The operation object for a path and verb, with the template it matched.
    fn operation(&self, method: &str, path: &str) -> Result<(&str, &Value), String> {
        let paths = self.doc["paths"].as_object().ok_or("no paths")?;
        let segments: Vec<&str> = path.split('/').collect();
        let (template, item) = paths
            .iter()
            .find(|(template, _)| {
                let t: Vec<&str> = template.split('/').collect();
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .ok_or_else(|| format!("no operation for path {path}"))?;
        let method = method.to_ascii_lowercase();
        if let Some(op) = item.get(&method) {
            return Ok((template, op));
        }
        item.as_object()
            .into_iter()
            .flatten()
            .find(|(_, op)| {
                op["x-playmark-also-accepts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|m| m == method.as_str()))
            })
            .map(|(_, op)| (template.as_str(), op))
            .ok_or_else(|| format!("{} is not accepted on {template}", method.to_uppercase()))
    }

    /// Check one recorded request; `Err` lists every problem.
    pub fn check_request(&self, r: &playmark::demo::RecordedRequest) -> Result<(), Vec<String>> {
        let (_, op) = self.operation(&r.method, &r.path).map_err(|e| vec![e])?;
        let mut problems = Vec::new();
        let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
        let query_params: Vec<&Value> = params
            .iter()
            .copied()
            .filter(|p| p["in"] == "query")
            .collect();
        for (name, value) in &r.query {
            if name.eq_ignore_ascii_case("X-Plex-Token") {
                problems.push("the token must not be in the URL".to_string());
                continue;
            }
            let schema = query_params
                .iter()
                .find(|p| p["name"] == name.as_str())
                .map(|p| &p["schema"])
                .or_else(|| {
                    query_params
                        .iter()
                        .filter(|p| p["style"] == "form" && p["explode"] == true)
                        .find_map(|p| p["schema"]["properties"].get(name.as_str()))
                });
            match schema {
                None => problems.push(format!("undeclared query parameter {name}")),
                Some(schema) => {
                    if let Err(e) = check_plex_value(schema, value) {
                        problems.push(format!("{name}={value}: {e}"));
                    }
                }
            }
        }
        for p in params.iter().filter(|p| p["required"] == true) {
            let name = p["name"].as_str().unwrap_or_default();
            let present = match p["in"].as_str() {
                Some("query") => r.query.iter().any(|(k, _)| k == name),
                Some("header") => r.header(name).is_some(),
                _ => true,
            };
            if !present {
                problems.push(format!("required {} parameter {name} missing", p["in"]));
            }
        }
        let public = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|req| req.as_object().is_some_and(|o| o.is_empty()))
        });
        if !public && r.header("X-Plex-Token").is_none() {
            problems.push("X-Plex-Token header missing".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl PlexSpec {
    /// Check a `Metadata` object (as the fake returns it) against the document's `Metadata`
    /// schema: required fields present, declared fields of the declared JSON type.
    pub fn check_metadata(&self, value: &Value) -> Result<(), Vec<String>> {
        check_plex_object(&self.doc["schemas"]["Metadata"], value)
    }

    /// Check the `MediaContainer` of `GET /identity`.
    pub fn check_identity(&self, value: &Value) -> Result<(), Vec<String>> {
        check_plex_object(&self.doc["schemas"]["Identity"], value)
    }
}

fn check_plex_object(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec!["not an object".to_string()]);
    };
    for r in schema["required"].as_array().into_iter().flatten() {
        let name = r.as_str().unwrap_or_default();
        if !obj.contains_key(name) {
            problems.push(format!("required {name} missing"));
        }
    }
    for (name, v) in obj {
        let Some(prop) = schema["properties"].get(name) else {
            continue;
        };
        let types: Vec<&str> = match &prop["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let fits = types.iter().any(|t| match *t {
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "null" => v.is_null(),
            _ => true,
        });
        if !fits {
            problems.push(format!("{name}: {v} is not {types:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_plex_value(schema: &Value, value: &str) -> Result<(), String> {
    match schema["type"].as_str() {
        Some("integer") => {
            let n: i64 = value.parse().map_err(|_| "not an integer".to_string())?;
            if let Some(allowed) = schema["enum"].as_array() {
                if !allowed.iter().any(|a| a.as_i64() == Some(n)) {
                    return Err(format!("{n} not in {allowed:?}"));
                }
            }
            Ok(())
        }
        Some("string") => match schema["enum"].as_array() {
            Some(allowed) if !allowed.iter().any(|a| a == value) => {
                Err(format!("not one of {allowed:?}"))
            }
            _ => Ok(()),
        },
        Some("boolean") => match value {
            "0" | "1" | "true" | "false" => Ok(()),
            _ => Err("not a boolean".to_string()),
        },
        _ => Ok(()),
    }
}
