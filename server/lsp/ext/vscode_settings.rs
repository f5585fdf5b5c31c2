//! Generates the settings section (`contributes.configuration`) of editors/vscode/package.json
//! from the server's settings, as rust-analyzer generates its own: keys and defaults from
//! `Settings::default()`, types from the fields' Rust types, descriptions from the fields' doc
//! comments. The doc comments are read from the source with `syn`, wherever the settings types
//! live (`config.rs`, `providers/`, `agents/`, `conductor/fim.rs`), so no settings type needs a
//! derive or a copy of its docs.
//! Test-only: the test in `ext.rs` compares the result with the file and rewrites it under
//! `UPDATE_EXPECT=1`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::config::Settings;

/// Settings only the extension reads (`CLIENT_SETTINGS` in editors/vscode/src/settings.ts): kept
/// as the file has them, first.
const CLIENT_ONLY: &[&str] = &["baton.serverPath", "baton.trace.server"];

/// Bounds the Rust types cannot state: `(setting, minimum, maximum)`. Temperatures are sent as
/// they are; 0 to 2 is the range OpenAI-compatible servers accept.
const BOUNDS: &[(&str, f64, f64)] = &[("completion.temperature", 0.0, 2.0), ("edit.temperature", 0.0, 2.0)];

/// `package` (the parsed package.json) with its `contributes.configuration.properties` generated
/// from the server's settings, the client-only settings kept. Errors name what is missing: a
/// settings type not found in `server/`, a setting without a doc comment, a Rust type with no
/// JSON schema here.
pub(super) fn package_json(package: &Value) -> Result<Value, String> {
    let items = Items::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("server"))?;
    let defaults = serde_json::to_value(Settings::default()).map_err(|e| e.to_string())?;
    let settings = items.structure("Settings")?;
    let mut generated = BTreeMap::new();
    items.section(settings, "", &defaults, &mut generated)?;
    for key in generated.keys() {
        check_enum_values(key, &generated[key], &defaults)?;
    }

    let current = package
        .pointer("/contributes/configuration/properties")
        .and_then(Value::as_object)
        .ok_or("package.json has no contributes.configuration.properties")?;
    let mut properties = Map::new();
    for key in CLIENT_ONLY {
        let value = current.get(*key).ok_or_else(|| format!("package.json lost the client setting {key}"))?;
        properties.insert((*key).to_owned(), value.clone());
    }
    for (key, schema) in generated {
        properties.insert(format!("baton.{key}"), schema);
    }
    let mut package = package.clone();
    let slot = package
        .pointer_mut("/contributes/configuration/properties")
        .ok_or("package.json has no contributes.configuration.properties")?;
    *slot = Value::Object(properties);
    Ok(package)
}

/// Every enum value offered must be one the server accepts: each is tried in `Settings`.
fn check_enum_values(key: &str, schema: &Value, defaults: &Value) -> Result<(), String> {
    for value in schema.get("enum").and_then(Value::as_array).into_iter().flatten() {
        let mut candidate = defaults.clone();
        let pointer = format!("/{}", key.replace('.', "/"));
        let slot = candidate.pointer_mut(&pointer).ok_or_else(|| format!("no default for {key}"))?;
        *slot = value.clone();
        serde_json::from_value::<Settings>(candidate)
            .map_err(|e| format!("{key}: the generated enum value {value} is not accepted: {e}"))?;
    }
    Ok(())
}

/// The structs and enums of the server's source that derive `Deserialize`, by name.
struct Items {
    structs: BTreeMap<String, Vec<syn::ItemStruct>>,
    enums: BTreeMap<String, Vec<syn::ItemEnum>>,
}

impl Items {
    fn load(dir: &Path) -> Result<Self, String> {
        let mut items = Items { structs: BTreeMap::new(), enums: BTreeMap::new() };
        items.load_dir(dir)?;
        Ok(items)
    }

    fn load_dir(&mut self, dir: &Path) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                self.load_dir(&path)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let file = syn::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                self.add(file.items);
            }
        }
        Ok(())
    }

    fn add(&mut self, items: Vec<syn::Item>) {
        for item in items {
            match item {
                syn::Item::Struct(s) if derives_deserialize(&s.attrs) => {
                    self.structs.entry(s.ident.to_string()).or_default().push(s)
                }
                syn::Item::Enum(e) if derives_deserialize(&e.attrs) => {
                    self.enums.entry(e.ident.to_string()).or_default().push(e)
                }
                syn::Item::Mod(m) => self.add(m.content.map(|(_, items)| items).unwrap_or_default()),
                _ => {}
            }
        }
    }

    fn structure(&self, name: &str) -> Result<&syn::ItemStruct, String> {
        match self.structs.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(many) => Err(format!("{} settings structs are named {name}", many.len())),
            None => Err(format!("no struct {name} deriving Deserialize in server/")),
        }
    }

    fn enumeration(&self, name: &str) -> Option<&syn::ItemEnum> {
        match self.enums.get(name).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Adds the settings of `item` (a struct whose serialized default is `defaults`) under
    /// `prefix`: nested settings structs become dotted sections, the rest are settings.
    fn section(
        &self,
        item: &syn::ItemStruct,
        prefix: &str,
        defaults: &Value,
        out: &mut BTreeMap<String, Value>,
    ) -> Result<(), String> {
        for field in &item.fields {
            let Some(ident) = &field.ident else { continue };
            let name = ident.to_string();
            let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            let default = defaults.get(&name).ok_or_else(|| format!("{key} has no default"))?;
            if let Some(inner) = type_name(&field.ty).and_then(|n| self.structs.get(&n).map(|_| n))
                && default.is_object()
            {
                self.section(self.structure(&inner)?, &key, default, out)?;
                continue;
            }
            let mut schema = self.schema(&key, &field.ty)?;
            let doc = match docs(&field.attrs) {
                doc if !doc.is_empty() => doc,
                _ => self.type_docs(&field.ty),
            };
            if doc.is_empty() {
                return Err(format!("setting {key} has no doc comment: document the field `{name}`"));
            }
            let doc = match self.entry_fields(&field.ty) {
                Some(fields) => format!("{doc} Each entry is an object with the fields {fields}."),
                None => doc,
            };
            if let Some((_, min, max)) = BOUNDS.iter().find(|(k, ..)| *k == key) {
                schema.insert("minimum".into(), number(*min));
                schema.insert("maximum".into(), number(*max));
            }
            schema.insert("default".into(), default.clone());
            schema.insert("markdownDescription".into(), Value::String(doc));
            out.insert(key, Value::Object(schema));
        }
        Ok(())
    }

    /// The JSON schema of a setting of Rust type `ty` (without default and description).
    fn schema(&self, key: &str, ty: &syn::Type) -> Result<Map<String, Value>, String> {
        let unsupported = || format!("{key}: no JSON schema for the Rust type `{}`", type_label(ty));
        let syn::Type::Path(path) = ty else { return Err(unsupported()) };
        let last = path.path.segments.last().ok_or_else(unsupported)?;
        let mut schema = Map::new();
        match last.ident.to_string().as_str() {
            "bool" => _ = schema.insert("type".into(), json!("boolean")),
            "u8" | "u16" | "u32" | "u64" | "usize" => {
                schema.insert("type".into(), json!("integer"));
                schema.insert("minimum".into(), json!(0));
            }
            "i8" | "i16" | "i32" | "i64" | "isize" => _ = schema.insert("type".into(), json!("integer")),
            "f32" | "f64" => _ = schema.insert("type".into(), json!("number")),
            "String" | "PathBuf" => _ = schema.insert("type".into(), json!("string")),
            "Option" => {
                let inner = self.schema(key, generic_arg(last).ok_or_else(unsupported)?)?;
                let Some(Value::String(t)) = inner.get("type") else { return Err(unsupported()) };
                schema.insert("type".into(), json!([t, "null"]));
            }
            "Vec" => {
                let inner = generic_arg(last).ok_or_else(unsupported)?;
                let items = match type_name(inner) {
                    Some(n) if self.structs.contains_key(&n) => json!({ "type": "object" }),
                    _ => Value::Object(self.schema(key, inner)?),
                };
                schema.insert("type".into(), json!("array"));
                schema.insert("items".into(), items);
            }
            "BTreeMap" | "HashMap" => _ = schema.insert("type".into(), json!("object")),
            other => {
                let e = self.enumeration(other).ok_or_else(unsupported)?;
                schema.insert("type".into(), json!("string"));
                schema.insert("enum".into(), Value::Array(enum_values(e)?.into_iter().map(Value::String).collect()));
            }
        }
        Ok(schema)
    }

    /// The doc comment of the struct or enum `ty` names ('' when it has none).
    fn type_docs(&self, ty: &syn::Type) -> String {
        let Some(name) = type_name(ty) else { return String::new() };
        if let Some(e) = self.enumeration(&name) {
            return docs(&e.attrs);
        }
        self.structure(&name).map(|s| docs(&s.attrs)).unwrap_or_default()
    }

    /// For a list of structs (`Vec<AgentProfile>`): its fields as "`a`, `b` and `c`".
    fn entry_fields(&self, ty: &syn::Type) -> Option<String> {
        let syn::Type::Path(path) = ty else { return None };
        let last = path.path.segments.last()?;
        if last.ident != "Vec" {
            return None;
        }
        let item = self.structure(&type_name(generic_arg(last)?)?).ok()?;
        let names: Vec<String> =
            item.fields.iter().filter_map(|f| f.ident.as_ref()).map(|i| format!("`{i}`")).collect();
        let (last, rest) = names.split_last()?;
        Some(if rest.is_empty() { last.clone() } else { format!("{} and {last}", rest.join(", ")) })
    }
}

/// A JSON number, written without a fraction when it is whole (`2`, not `2.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 { json!(x as i64) } else { json!(x) }
}

fn derives_deserialize(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("derive")).any(|a| {
        let mut found = false;
        let _ = a.parse_nested_meta(|m| {
            found |= m.path.segments.last().is_some_and(|s| s.ident == "Deserialize");
            Ok(())
        });
        found
    })
}

/// The last path segment of a plain type (`crate::agents::AgentProfile` → `AgentProfile`).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The first generic argument: `T` of `Option<T>` and `Vec<T>`.
fn generic_arg(segment: &syn::PathSegment) -> Option<&syn::Type> {
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn type_label(ty: &syn::Type) -> String {
    type_name(ty).unwrap_or_else(|| "?".to_owned())
}

/// A doc comment as Markdown: lines of a paragraph joined with spaces, paragraphs separated by a
/// blank line, rustdoc links (``[`Name`]``) as plain code.
fn docs(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let paragraphs: Vec<String> = lines
        .split(|l| l.trim().is_empty())
        .filter(|p| !p.is_empty())
        .map(|p| p.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "))
        .collect();
    let text = paragraphs.join("\n\n");
    match regex::Regex::new(r"\[(`[^`\]]+`)\]") {
        Ok(links) => links.replace_all(&text, "$1").into_owned(),
        Err(_) => text,
    }
}

/// The serialized names of a unit-variant enum, following its `#[serde(rename_all)]` and each
/// variant's `#[serde(rename)]`.
fn enum_values(e: &syn::ItemEnum) -> Result<Vec<String>, String> {
    let rename_all = serde_string(&e.attrs, "rename_all");
    e.variants
        .iter()
        .map(|v| {
            if !matches!(v.fields, syn::Fields::Unit) {
                return Err(format!("{}::{} carries data: not a settings enum", e.ident, v.ident));
            }
            if let Some(name) = serde_string(&v.attrs, "rename") {
                return Ok(name);
            }
            let words = split_words(&v.ident.to_string());
            match rename_all.as_deref() {
                None => Ok(v.ident.to_string()),
                Some("lowercase") => Ok(words.concat()),
                Some("kebab-case") => Ok(words.join("-")),
                Some("snake_case") => Ok(words.join("_")),
                Some(other) => Err(format!("{}: rename_all = {other:?} is not handled here", e.ident)),
            }
        })
        .collect()
}

/// `CamelCase` → `["camel", "case"]`.
fn split_words(ident: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in ident.chars() {
        match words.last_mut() {
            Some(w) if !c.is_uppercase() => w.push(c),
            _ => words.push(c.to_lowercase().collect()),
        }
    }
    words
}

/// The string value of `#[serde(<name> = "...")]` among `attrs`.
fn serde_string(attrs: &[syn::Attribute], name: &str) -> Option<String> {
    let mut found = None;
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|m| {
            if m.path.is_ident(name) {
                found = Some(m.value()?.parse::<syn::LitStr>()?.value());
            } else if m.input.peek(syn::Token![=]) {
                let _: syn::Expr = m.value()?.parse()?;
            }
            Ok(())
        });
    }
    found
}
