//! Docs for what typify generates without any: the `extra` map of every
//! tolerant response object, the arms of open enums and unions, and the
//! values of string enums.
//!
//! A property that is an inline object has its description on the type
//! typify makes of it, not on the field: such a field gets its type's docs.
//!
//! A JSON schema has no place for a description per enum value, so the
//! overlay gives them as `x-enum-descriptions` (`{"running": "..."}`) beside
//! the values; an enum whose wire values are all keys of one such map gets
//! those docs. Whatever has no description says what it is on the wire, so
//! that no public item of the generated client renders undocumented.

use std::collections::BTreeMap;

use quote::ToTokens;
use serde_json::Value;
use syn::visit_mut::VisitMut;

/// The extension that describes a string enum's values.
pub const ENUM_DESCRIPTIONS: &str = "x-enum-descriptions";

/// Adds the docs (see the module docs); returns how many items gained one.
pub(crate) fn document(file: &mut syn::File, doc: &Value) -> usize {
    let mut types = TypeDocs::default();
    types.visit_file_mut(file); // reads only
    let mut pass = Pass {
        described: enum_descriptions(doc),
        type_docs: types.0,
        added: 0,
    };
    pass.visit_file_mut(file);
    pass.added
}

/// Every `x-enum-descriptions` map anywhere in the document.
fn enum_descriptions(doc: &Value) -> Vec<BTreeMap<String, String>> {
    let mut found = Vec::new();
    let mut stack = vec![doc];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(obj) => {
                if let Some(Value::Object(map)) = obj.get(ENUM_DESCRIPTIONS) {
                    found.push(
                        map.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect(),
                    );
                }
                stack.extend(obj.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

struct Pass {
    described: Vec<BTreeMap<String, String>>,
    /// The doc attributes of each documented struct and enum, by name.
    type_docs: BTreeMap<String, Vec<syn::Attribute>>,
    added: usize,
}

#[derive(Default)]
struct TypeDocs(BTreeMap<String, Vec<syn::Attribute>>);

impl VisitMut for TypeDocs {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        self.keep(&item.ident, &item.attrs);
    }
    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        self.keep(&item.ident, &item.attrs);
    }
}

impl TypeDocs {
    fn keep(&mut self, ident: &syn::Ident, attrs: &[syn::Attribute]) {
        let docs: Vec<syn::Attribute> = attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
        if !docs.is_empty() {
            self.0.insert(ident.to_string(), docs);
        }
    }
}

/// The name of the type a field holds, through `Option<..>`.
fn held_type(ty: &syn::Type) -> Option<String> {
    let syn::Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident == "Option"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        return held_type(inner);
    }
    Some(last.ident.to_string())
}

fn has_doc(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("doc"))
}

fn push_doc(attrs: &mut Vec<syn::Attribute>, text: &str) {
    let text = format!(" {text}");
    attrs.insert(0, syn::parse_quote!(#[doc = #text]));
}

/// The value of `#[serde(rename = "...")]`, if the attributes have one.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().filter(|a| a.path().is_ident("serde")).find_map(|a| {
        let mut renamed = None;
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                renamed = Some(meta.value()?.parse::<syn::LitStr>()?.value());
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        });
        renamed
    })
}

fn is_flattened(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("serde") && a.to_token_stream().to_string().contains("flatten"))
}

impl VisitMut for Pass {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        for field in item.fields.iter_mut() {
            let extra = field.ident.as_ref().is_some_and(|i| i == "extra") && is_flattened(&field.attrs);
            if has_doc(&field.attrs) || !matches!(field.vis, syn::Visibility::Public(_)) {
                continue;
            }
            if extra {
                push_doc(
                    &mut field.attrs,
                    "Fields the server sent that the document does not name, kept as sent.",
                );
                self.added += 1;
            } else if let Some(docs) = held_type(&field.ty).and_then(|t| self.type_docs.get(&t)) {
                field.attrs.splice(0..0, docs.iter().cloned());
                self.added += 1;
            }
        }
    }

    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        let wire: Vec<Option<String>> = item
            .variants
            .iter()
            .map(|v| match v.fields {
                syn::Fields::Unit => Some(serde_rename(&v.attrs).unwrap_or_else(|| v.ident.to_string())),
                _ => None,
            })
            .collect();
        let values: Vec<&String> = wire.iter().flatten().collect();
        let table = (!values.is_empty())
            .then(|| {
                self.described
                    .iter()
                    .find(|map| values.iter().all(|v| map.contains_key(*v)))
            })
            .flatten();
        for (variant, wire) in item.variants.iter_mut().zip(&wire) {
            if has_doc(&variant.attrs) {
                continue;
            }
            let text = match (wire, &variant.fields) {
                (Some(value), _) => match table.and_then(|t| t.get(value)) {
                    Some(description) => description.clone(),
                    None => format!("`{value}` on the wire."),
                },
                (None, syn::Fields::Unnamed(f)) if f.unnamed.len() == 1 => {
                    let inner = f.unnamed[0].ty.to_token_stream().to_string().replace(' ', "");
                    match variant.ident.to_string().as_str() {
                        "Known" => "A value the document lists.".to_string(),
                        "Unknown" => {
                            "A value the document does not list (a newer service's), kept as sent.".to_string()
                        }
                        _ if inner.ends_with("String") => "Any other text, kept as sent.".to_string(),
                        _ => format!(
                            "The answer in the shape of `{}`.",
                            inner.rsplit("::").next().unwrap_or(&inner)
                        ),
                    }
                }
                _ => continue,
            };
            push_doc(&mut variant.attrs, &text);
            self.added += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_maps_enum_values_and_arms_get_docs() {
        let mut file: syn::File = syn::parse_quote! {
            pub struct A {
                ///kept
                pub x: i64,
                pub inline: Option<AInline>,
                held: Option<AInline>,
                #[serde(flatten)]
                pub extra: ::std::collections::BTreeMap<String, ::serde_json::Value>,
            }
            ///An inline object's description.
            pub struct AInline {}
            pub enum KnownS {
                #[serde(rename = "running")]
                Running,
                #[serde(rename = "gone")]
                Gone,
            }
            pub enum Other {
                #[serde(rename = "x")]
                X,
            }
            #[serde(untagged)]
            pub enum S {
                Known(KnownS),
                Unknown(::std::string::String),
            }
            pub enum Answer {
                V1(CurrentUserV1),
            }
        };
        let doc = serde_json::json!({"components": {"schemas": {"S": {
            "x-enum-descriptions": {"running": "It runs.", "gone": "It is gone.", "later": "unused"}
        }}}});
        let added = document(&mut file, &doc);
        let code = prettyplease::unparse(&file);
        assert_eq!(added, 8, "{code}");
        assert!(
            code.contains("///An inline object's description.\n    pub inline"),
            "{code}"
        );
        assert!(
            code.contains("    held: Option"),
            "a private field is left alone: {code}"
        );
        assert!(
            code.contains("/// Fields the server sent that the document does not name"),
            "{code}"
        );
        assert!(
            code.contains("/// It runs.\n    #[serde(rename = \"running\")]"),
            "{code}"
        );
        assert!(code.contains("/// It is gone."), "{code}");
        assert!(code.contains("/// `x` on the wire."), "{code}");
        assert!(code.contains("/// A value the document lists."), "{code}");
        assert!(code.contains("kept as sent.\n    Unknown"), "{code}");
        assert!(
            code.contains("/// The answer in the shape of `CurrentUserV1`."),
            "{code}"
        );
        assert!(
            code.contains("///kept\n    pub x"),
            "a documented field is left alone: {code}"
        );
    }
}
