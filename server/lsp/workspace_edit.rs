//! The one builder of the `WorkspaceEdit`s Baton sends with `workspace/applyEdit` (model edits,
//! applied pull requests). It follows what the client declared: `documentChanges` (versioned
//! document edits, file creation and deletion) or the plain `changes` map, and a change annotation
//! that labels the change where the client supports them (LSP 3.17 §WorkspaceEdit). The annotation
//! never sets `needsConfirmation`: VS Code answers that with a Refactor Preview whose changes
//! start unticked, so Apply did nothing (issue 12); the change arrives as one undoable edit.

use std::collections::HashMap;

use tower_lsp_server::Client;
use tower_lsp_server::gen_lsp_types::{
    AnnotatedTextEdit, ApplyWorkspaceEditParams, ApplyWorkspaceEditRequest, ApplyWorkspaceEditResult, ChangeAnnotation,
    CreateFile, DeleteFile, DocumentChange, OptionalVersionedTextDocumentIdentifier, Range, TextDocumentEdit,
    TextDocumentIdentifier, TextEdit, Uri, WorkspaceEdit,
};

use super::session::ClientFeatures;

/// The id of Baton's one change annotation in an edit.
const ANNOTATION_ID: &str = "baton";

/// The client cannot create or delete files through `workspace/applyEdit` (it lacks
/// `documentChanges` or the `create` and `delete` resource operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoResourceOperations;

/// Collects document edits, creations and deletions, then [`finish`](Self::finish)es them into
/// the shape the client reads.
#[derive(Debug)]
pub(crate) struct WorkspaceEditBuilder {
    document_changes: bool,
    resource_operations: bool,
    annotations: bool,
    annotation: Option<ChangeAnnotation>,
    changes: Vec<DocumentChange>,
    plain: HashMap<Uri, Vec<TextEdit>>,
}

impl WorkspaceEditBuilder {
    /// An empty edit for a client with `features`.
    pub(crate) fn new(features: &ClientFeatures) -> Self {
        Self {
            document_changes: features.document_changes,
            resource_operations: features.document_changes && features.create_delete_files,
            annotations: features.document_changes && features.change_annotations,
            annotation: None,
            changes: Vec::new(),
            plain: HashMap::new(),
        }
    }

    /// Labels every change `label`, described by `description` (shown where the client lists
    /// changes), where the client supports change annotations (with `documentChanges`); nothing
    /// otherwise. Never asks for confirmation (see the module docs).
    pub(crate) fn labelled(mut self, label: String, description: String) -> Self {
        if self.annotations {
            self.annotation =
                Some(ChangeAnnotation { label, needs_confirmation: None, description: Some(description) });
        }
        self
    }

    fn annotation_id(&self) -> Option<String> {
        self.annotation.as_ref().map(|_| ANNOTATION_ID.to_owned())
    }

    /// Edits the document `uri`, expected at `version` (the open document's; `None` for a file
    /// the editor may not have open).
    pub(crate) fn edit(&mut self, uri: &str, version: Option<i32>, edits: Vec<TextEdit>) {
        if !self.document_changes {
            self.plain.entry(Uri::from(uri)).or_default().extend(edits);
            return;
        }
        let annotation_id = self.annotation_id();
        let edits = edits
            .into_iter()
            .map(|text_edit| match &annotation_id {
                Some(id) => AnnotatedTextEdit { annotation_id: id.clone(), text_edit }.into(),
                None => text_edit.into(),
            })
            .collect();
        self.changes.push(
            TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    version,
                    text_document_identifier: TextDocumentIdentifier { uri: Uri::from(uri) },
                },
                edits,
            }
            .into(),
        );
    }

    /// Creates the file `uri` with `text`. Errors: [`NoResourceOperations`].
    pub(crate) fn create(&mut self, uri: &str, text: String) -> Result<(), NoResourceOperations> {
        if !self.resource_operations {
            return Err(NoResourceOperations);
        }
        let annotation_id = self.annotation_id();
        self.changes.push(CreateFile { uri: Uri::from(uri), options: None, annotation_id }.into());
        self.edit(uri, None, vec![TextEdit { range: Range::default(), new_text: text }]);
        Ok(())
    }

    /// Deletes the file `uri`. Errors: [`NoResourceOperations`].
    pub(crate) fn delete(&mut self, uri: &str) -> Result<(), NoResourceOperations> {
        if !self.resource_operations {
            return Err(NoResourceOperations);
        }
        let annotation_id = self.annotation_id();
        self.changes.push(DeleteFile { uri: Uri::from(uri), options: None, annotation_id }.into());
        Ok(())
    }

    /// The edit: `documentChanges` (with the annotation, if any) when the client supports them,
    /// else `changes`.
    pub(crate) fn finish(self) -> WorkspaceEdit {
        if !self.document_changes {
            return WorkspaceEdit { changes: Some(self.plain), ..Default::default() };
        }
        WorkspaceEdit {
            document_changes: Some(self.changes),
            change_annotations: self.annotation.map(|a| HashMap::from([(ANNOTATION_ID.to_owned(), a)])),
            ..Default::default()
        }
    }
}

/// Sends `edit` with `workspace/applyEdit`, labelled `label` (the name of the undo step), and
/// returns the client's answer. Errors: the client's error answer (its message says why).
pub(crate) async fn send(
    client: &Client,
    label: String,
    edit: WorkspaceEdit,
) -> Result<ApplyWorkspaceEditResult, tower_lsp_server::jsonrpc::Error> {
    client
        .send_request::<ApplyWorkspaceEditRequest>(ApplyWorkspaceEditParams {
            label: Some(label),
            edit,
            metadata: None,
        })
        .await
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use tower_lsp_server::gen_lsp_types::Position;

    use super::*;

    fn features(document_changes: bool, create_delete_files: bool, change_annotations: bool) -> ClientFeatures {
        ClientFeatures { document_changes, create_delete_files, change_annotations, ..Default::default() }
    }

    fn edit_at(line: u32, text: &str) -> TextEdit {
        let at = Position { line, character: 0 };
        TextEdit { range: Range { start: at, end: at }, new_text: text.to_owned() }
    }

    /// A model edit and a pull request's three kinds of file change, for a client with `features`.
    fn check(features: ClientFeatures, expect: Expect) {
        let mut builder = WorkspaceEditBuilder::new(&features).labelled("Baton: simplify".into(), "qwen".into());
        builder.edit("file:///p/a.rs", Some(3), vec![edit_at(1, "x\n")]);
        let created = builder.create("file:///p/new.rs", "fn new() {}\n".into());
        let deleted = builder.delete("file:///p/old.rs");
        let mut edit = serde_json::to_value(builder.finish()).unwrap_or_default();
        // Sorted keys: the snapshot does not depend on serde_json's `preserve_order` feature.
        edit.sort_all_objects();
        let text = format!("{created:?} {deleted:?}\n{}", serde_json::to_string_pretty(&edit).unwrap_or_default());
        expect.assert_eq(&text);
    }

    #[test]
    fn document_changes_with_annotations_and_resource_operations() {
        check(
            features(true, true, true),
            expect![[r#"
                Ok(()) Ok(())
                {
                  "changeAnnotations": {
                    "baton": {
                      "description": "qwen",
                      "label": "Baton: simplify"
                    }
                  },
                  "documentChanges": [
                    {
                      "edits": [
                        {
                          "annotationId": "baton",
                          "newText": "x\n",
                          "range": {
                            "end": {
                              "character": 0,
                              "line": 1
                            },
                            "start": {
                              "character": 0,
                              "line": 1
                            }
                          }
                        }
                      ],
                      "textDocument": {
                        "uri": "file:///p/a.rs",
                        "version": 3
                      }
                    },
                    {
                      "annotationId": "baton",
                      "kind": "create",
                      "uri": "file:///p/new.rs"
                    },
                    {
                      "edits": [
                        {
                          "annotationId": "baton",
                          "newText": "fn new() {}\n",
                          "range": {
                            "end": {
                              "character": 0,
                              "line": 0
                            },
                            "start": {
                              "character": 0,
                              "line": 0
                            }
                          }
                        }
                      ],
                      "textDocument": {
                        "uri": "file:///p/new.rs",
                        "version": null
                      }
                    },
                    {
                      "annotationId": "baton",
                      "kind": "delete",
                      "uri": "file:///p/old.rs"
                    }
                  ]
                }"#]],
        );
    }

    #[test]
    fn without_annotation_support_the_edits_are_plain() {
        check(
            features(true, false, false),
            expect![[r#"
                Err(NoResourceOperations) Err(NoResourceOperations)
                {
                  "documentChanges": [
                    {
                      "edits": [
                        {
                          "newText": "x\n",
                          "range": {
                            "end": {
                              "character": 0,
                              "line": 1
                            },
                            "start": {
                              "character": 0,
                              "line": 1
                            }
                          }
                        }
                      ],
                      "textDocument": {
                        "uri": "file:///p/a.rs",
                        "version": 3
                      }
                    }
                  ]
                }"#]],
        );
    }

    #[test]
    fn without_document_changes_only_the_changes_map_and_no_files() {
        // Annotations and resource operations need documentChanges, whatever else is declared.
        check(
            features(false, true, true),
            expect![[r#"
                Err(NoResourceOperations) Err(NoResourceOperations)
                {
                  "changes": {
                    "file:///p/a.rs": [
                      {
                        "newText": "x\n",
                        "range": {
                          "end": {
                            "character": 0,
                            "line": 1
                          },
                          "start": {
                            "character": 0,
                            "line": 1
                          }
                        }
                      }
                    ]
                  }
                }"#]],
        );
    }
}
