//! The server's state and its handlers. Messages are handled one at a time, in the order they
//! came: a `didChange` is applied before any request that follows it is answered. Analysis is
//! debounced: edits mark their bundle stale, and it is analysed again once no message has come
//! for a moment, or before a request needs it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use evr_compiler::files::Files;
use evr_compiler::{Analysis, FileId, Parses, ide};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use serde_json::Value;

use crate::convert;

/// How long edits may keep coming before their bundle is analysed and diagnostics published.
const DEBOUNCE: Duration = Duration::from_millis(15);

/// A bundle: every `.evr` file under one directory, the way `evr check DIR` reads it.
struct Bundle {
    parses: Parses,
    analysis: Option<Analysis>,
    stale: bool,
    /// The files diagnostics were last published for, to clear them when they are gone.
    published: HashSet<PathBuf>,
    /// `.proto` files closed in the editor since the last analysis: read from disk again.
    closed_schemas: Vec<PathBuf>,
}

pub struct Server {
    connection: Connection,
    /// Editor buffers, by path: they win over the files on disk.
    open: HashMap<PathBuf, String>,
    bundles: BTreeMap<PathBuf, Bundle>,
    shutdown: bool,
}

impl Server {
    pub fn new(connection: Connection) -> Server {
        Server { connection, open: HashMap::new(), bundles: BTreeMap::new(), shutdown: false }
    }

    pub fn capabilities() -> lsp::ServerCapabilities {
        lsp::ServerCapabilities {
            text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(lsp::TextDocumentSyncKind::FULL)),
            hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
            definition_provider: Some(lsp::OneOf::Left(true)),
            references_provider: Some(lsp::OneOf::Left(true)),
            document_symbol_provider: Some(lsp::OneOf::Left(true)),
            workspace_symbol_provider: Some(lsp::OneOf::Left(true)),
            rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
                prepare_provider: Some(true),
                work_done_progress_options: Default::default(),
            })),
            completion_provider: Some(lsp::CompletionOptions {
                trigger_characters: Some(vec![".".into(), "@".into(), " ".into()]),
                ..Default::default()
            }),
            inlay_hint_provider: Some(lsp::OneOf::Left(true)),
            document_formatting_provider: Some(lsp::OneOf::Left(true)),
            signature_help_provider: Some(lsp::SignatureHelpOptions {
                trigger_characters: Some(vec!["(".into(), ",".into()]),
                ..Default::default()
            }),
            code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
            semantic_tokens_provider: Some(lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                lsp::SemanticTokensOptions {
                    legend: convert::token_legend(),
                    full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    /// Serves until `exit` (or until the client goes away); whether `shutdown` came first.
    pub fn run(mut self) -> bool {
        loop {
            let stale = self.bundles.values().any(|b| b.stale);
            let message = if stale {
                match self.connection.receiver.recv_timeout(DEBOUNCE) {
                    Ok(m) => m,
                    Err(e) => {
                        if e.is_disconnected() {
                            return self.shutdown;
                        }
                        self.refresh_all();
                        continue;
                    }
                }
            } else {
                match self.connection.receiver.recv() {
                    Ok(m) => m,
                    Err(_) => return self.shutdown,
                }
            };
            match message {
                Message::Request(req) => {
                    if self.shutdown {
                        self.error(req.id, ErrorCode::InvalidRequest, "the server is shutting down");
                        continue;
                    }
                    if req.method == "shutdown" {
                        self.shutdown = true;
                        self.reply(req.id, Value::Null);
                        continue;
                    }
                    self.request(req);
                }
                Message::Notification(n) if n.method == "exit" => return self.shutdown,
                Message::Notification(n) => self.notification(n),
                Message::Response(_) => {}
            }
        }
    }

    fn send(&self, message: Message) {
        // The client went away: the loop ends at the next receive.
        let _ = self.connection.sender.send(message);
    }

    fn reply(&self, id: RequestId, result: Value) {
        self.send(Message::Response(Response { id, result: Some(result), error: None }));
    }

    fn error(&self, id: RequestId, code: ErrorCode, message: &str) {
        self.send(Message::Response(Response::new_err(id, code as i32, message.to_owned())));
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                if let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params)
                    && let Some(path) = convert::path(&p.text_document.uri)
                {
                    self.open.insert(path.clone(), p.text_document.text);
                    self.touch(&path);
                }
            }
            "textDocument/didChange" => {
                if let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params)
                    && let Some(path) = convert::path(&p.text_document.uri)
                    && let Some(change) = p.content_changes.into_iter().last()
                {
                    self.open.insert(path.clone(), change.text);
                    self.touch(&path);
                }
            }
            "textDocument/didClose" => {
                if let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params)
                    && let Some(path) = convert::path(&p.text_document.uri)
                {
                    self.open.remove(&path);
                    if path.extension().is_some_and(|e| e == "proto") {
                        self.bundles.values_mut().for_each(|b| b.closed_schemas.push(path.clone()));
                    }
                    self.touch(&path);
                }
            }
            "textDocument/didSave" => {
                if let Ok(p) = serde_json::from_value::<lsp::DidSaveTextDocumentParams>(n.params)
                    && let Some(path) = convert::path(&p.text_document.uri)
                {
                    self.touch(&path);
                }
            }
            _ => {}
        }
    }

    /// Marks the bundles a file belongs to stale (a `.proto` file: every bundle).
    fn touch(&mut self, path: &Path) {
        if path.extension().is_some_and(|e| e == "proto") {
            self.bundles.values_mut().for_each(|b| b.stale = true);
            return;
        }
        let Some(dir) = path.parent() else { return };
        let bundle = self.bundles.entry(dir.to_path_buf()).or_insert_with(|| Bundle {
            parses: Parses::default(),
            analysis: None,
            stale: true,
            published: HashSet::new(),
            closed_schemas: Vec::new(),
        });
        bundle.stale = true;
    }

    fn refresh_all(&mut self) {
        let stale: Vec<PathBuf> = self.bundles.iter().filter(|(_, b)| b.stale).map(|(d, _)| d.clone()).collect();
        for dir in stale {
            self.refresh(&dir);
        }
    }

    /// Analyses a bundle again and publishes its diagnostics.
    fn refresh(&mut self, dir: &Path) {
        let files = self.files(dir);
        let Some(bundle) = self.bundles.get_mut(dir) else { return };
        for (path, text) in &self.open {
            if path.extension().is_some_and(|e| e == "proto") {
                bundle.parses.set_open_schema(path.clone(), Some(text.clone()));
            }
        }
        for path in std::mem::take(&mut bundle.closed_schemas) {
            bundle.parses.set_open_schema(path, None);
        }
        if let Some(old) = bundle.analysis.take() {
            bundle.parses.keep(&old.files, old.modules);
        }
        let analysis = evr_compiler::analyze_reusing(files, None, &mut bundle.parses);
        bundle.stale = false;
        let mut by_file: BTreeMap<PathBuf, Vec<lsp::Diagnostic>> = BTreeMap::new();
        for (_, f) in analysis.files.iter() {
            by_file.entry(f.path.clone()).or_default();
        }
        for d in &analysis.diagnostics {
            let path = analysis.files.get(d.primary.span.file).path.clone();
            by_file.entry(path).or_default().push(convert::diagnostic(&analysis.files, d));
        }
        let gone: Vec<PathBuf> = bundle.published.iter().filter(|p| !by_file.contains_key(*p)).cloned().collect();
        for p in gone {
            by_file.insert(p, Vec::new());
        }
        bundle.published = by_file.keys().cloned().collect();
        bundle.analysis = Some(analysis);
        for (path, diagnostics) in by_file {
            let params = lsp::PublishDiagnosticsParams { uri: convert::uri(&path), diagnostics, version: None };
            self.send(Message::Notification(Notification::new("textDocument/publishDiagnostics".into(), params)));
        }
    }

    /// The bundle's files: every `.evr` file under `dir` on disk, as the editor has them when
    /// open, and the open ones not saved yet.
    fn files(&self, dir: &Path) -> Files {
        let mut paths: Vec<PathBuf> = evr_compiler::bundle::load(dir)
            .map(|files| files.iter().map(|(_, f)| f.path.clone()).collect())
            .unwrap_or_default();
        paths.extend(
            self.open.keys().filter(|p| p.starts_with(dir) && p.extension().is_some_and(|e| e == "evr")).cloned(),
        );
        paths.sort();
        paths.dedup();
        let mut files = Files::default();
        for p in paths {
            let text = match self.open.get(&p) {
                Some(t) => t.clone(),
                None => std::fs::read_to_string(&p).unwrap_or_default(),
            };
            files.add(&p, p.display().to_string(), text);
        }
        files
    }

    /// The fresh analysis of the bundle holding `path`, and the file's id in it.
    fn analysis(&mut self, uri: &lsp::Uri) -> Option<(&Analysis, FileId)> {
        let path = convert::path(uri)?;
        let dir = path.parent()?.to_path_buf();
        if !self.bundles.contains_key(&dir) {
            self.touch(&path);
        }
        if self.bundles.get(&dir).is_some_and(|b| b.stale || b.analysis.is_none()) {
            self.refresh(&dir);
        }
        let a = self.bundles.get(&dir)?.analysis.as_ref()?;
        let file = a.files.iter().find(|(_, f)| f.path == path).map(|(id, _)| id)?;
        Some((a, file))
    }

    /// The analysis, file and byte offset a request's position is at.
    fn at(&mut self, p: &lsp::TextDocumentPositionParams) -> Option<(&Analysis, FileId, u32)> {
        let (a, file) = self.analysis(&p.text_document.uri)?;
        Some((a, file, convert::offset(&a.files, file, p.position)))
    }

    fn request(&mut self, req: Request) {
        let id = req.id.clone();
        match self.answer(req) {
            Ok(value) => self.reply(id, value),
            Err(Refusal::Params(why)) => self.error(id, ErrorCode::InvalidParams, &why),
            Err(Refusal::Unknown) => self.error(id, ErrorCode::MethodNotFound, "not supported"),
            Err(Refusal::Failed(why)) => self.error(id, ErrorCode::RequestFailed, &why),
        }
    }

    fn answer(&mut self, req: Request) -> Result<Value, Refusal> {
        fn params<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Refusal> {
            serde_json::from_value(v).map_err(|e| Refusal::Params(e.to_string()))
        }
        fn json(v: impl serde::Serialize) -> Result<Value, Refusal> {
            serde_json::to_value(v).map_err(|e| Refusal::Failed(e.to_string()))
        }
        match req.method.as_str() {
            "textDocument/hover" => {
                let p: lsp::HoverParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position_params) else { return Ok(Value::Null) };
                json(ide::hover(a, file, offset).map(|(span, markdown)| lsp::Hover {
                    contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                        kind: lsp::MarkupKind::Markdown,
                        value: markdown,
                    }),
                    range: Some(convert::range(&a.files, span)),
                }))
            }
            "textDocument/definition" => {
                let p: lsp::GotoDefinitionParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position_params) else { return Ok(Value::Null) };
                let Some(symbol) = ide::symbol_at(a, file, offset) else { return Ok(Value::Null) };
                let location = match ide::definition(a, &symbol.target) {
                    Some(span) => Some(convert::location(&a.files, span)),
                    None => ide::schema_definition(a, &symbol.target).map(|p| convert::proto_location(&p)),
                };
                json(location.map(lsp::GotoDefinitionResponse::Scalar))
            }
            "textDocument/references" => {
                let p: lsp::ReferenceParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position) else { return Ok(Value::Null) };
                let Some(symbol) = ide::symbol_at(a, file, offset) else { return Ok(Value::Null) };
                let definition = ide::definition(a, &symbol.target);
                let spans = ide::references(a, &symbol.target)
                    .into_iter()
                    .filter(|s| p.context.include_declaration || Some(*s) != definition);
                json(spans.map(|s| convert::location(&a.files, s)).collect::<Vec<_>>())
            }
            "textDocument/completion" => {
                let p: lsp::CompletionParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position) else { return Ok(Value::Null) };
                let items: Vec<lsp::CompletionItem> =
                    ide::completions(a, file, offset).iter().map(convert::completion).collect();
                json(lsp::CompletionResponse::Array(items))
            }
            "textDocument/documentSymbol" => {
                let p: lsp::DocumentSymbolParams = params(req.params)?;
                let Some((a, file)) = self.analysis(&p.text_document.uri) else { return Ok(Value::Null) };
                let symbols = ide::outline(a, file).iter().map(|o| convert::symbol(&a.files, o)).collect();
                json(lsp::DocumentSymbolResponse::Nested(symbols))
            }
            "workspace/symbol" => {
                let p: lsp::WorkspaceSymbolParams = params(req.params)?;
                self.refresh_all();
                let query = p.query.to_lowercase();
                let mut out = Vec::new();
                for bundle in self.bundles.values() {
                    let Some(a) = &bundle.analysis else { continue };
                    for (file, _) in a.files.iter() {
                        for o in ide::outline(a, file).iter().filter(|o| o.name.to_lowercase().contains(&query)) {
                            let s = convert::symbol(&a.files, o);
                            out.push(lsp::WorkspaceSymbol {
                                name: s.name,
                                kind: s.kind,
                                tags: None,
                                container_name: None,
                                location: lsp::OneOf::Left(convert::location(&a.files, o.name_span)),
                                data: None,
                            });
                        }
                    }
                }
                json(lsp::WorkspaceSymbolResponse::Nested(out))
            }
            "textDocument/prepareRename" => {
                let p: lsp::TextDocumentPositionParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p) else { return Ok(Value::Null) };
                let symbol = ide::prepare_rename(a, file, offset).map_err(Refusal::Failed)?;
                json(lsp::PrepareRenameResponse::Range(convert::range(&a.files, symbol.span)))
            }
            "textDocument/rename" => {
                let p: lsp::RenameParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position) else { return Ok(Value::Null) };
                let spans = ide::rename(a, file, offset, &p.new_name).map_err(Refusal::Failed)?;
                // The protocol's own map type; its keys are never changed while in it.
                #[allow(clippy::mutable_key_type)]
                let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
                for s in spans {
                    let l = convert::location(&a.files, s);
                    changes
                        .entry(l.uri)
                        .or_default()
                        .push(lsp::TextEdit { range: l.range, new_text: p.new_name.clone() });
                }
                json(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() })
            }
            "textDocument/inlayHint" => {
                let p: lsp::InlayHintParams = params(req.params)?;
                let Some((a, file)) = self.analysis(&p.text_document.uri) else { return Ok(Value::Null) };
                let (from, to) =
                    (convert::offset(&a.files, file, p.range.start), convert::offset(&a.files, file, p.range.end));
                let hints: Vec<lsp::InlayHint> = ide::let_types(a, file)
                    .into_iter()
                    .filter(|(span, _)| span.start >= from && span.end <= to)
                    .map(|(span, ty)| lsp::InlayHint {
                        position: convert::position(&a.files, file, span.end),
                        label: lsp::InlayHintLabel::String(format!(": {ty}")),
                        kind: Some(lsp::InlayHintKind::TYPE),
                        text_edits: None,
                        tooltip: None,
                        padding_left: None,
                        padding_right: None,
                        data: None,
                    })
                    .collect();
                json(hints)
            }
            "textDocument/formatting" => {
                let p: lsp::DocumentFormattingParams = params(req.params)?;
                let Some((a, file)) = self.analysis(&p.text_document.uri) else { return Ok(Value::Null) };
                let text = &a.files.get(file).text;
                // A file with syntax errors is left as it is (no edits), as `evr fmt` leaves it.
                let edits: Vec<lsp::TextEdit> = match evr_grammar::format(text) {
                    Some(formatted) if *formatted != **text => {
                        let whole = evr_compiler::Span::new(file, 0, text.len());
                        vec![lsp::TextEdit { range: convert::range(&a.files, whole), new_text: formatted }]
                    }
                    _ => Vec::new(),
                };
                json(edits)
            }
            "textDocument/signatureHelp" => {
                let p: lsp::SignatureHelpParams = params(req.params)?;
                let Some((a, file, offset)) = self.at(&p.text_document_position_params) else { return Ok(Value::Null) };
                json(ide::signature_at(a, file, offset).map(|s| convert::signature(&s)))
            }
            "textDocument/codeAction" => {
                let p: lsp::CodeActionParams = params(req.params)?;
                let uri = p.text_document.uri.clone();
                let Some((a, file)) = self.analysis(&uri) else { return Ok(Value::Null) };
                let (from, to) =
                    (convert::offset(&a.files, file, p.range.start), convert::offset(&a.files, file, p.range.end));
                let mut actions = Vec::new();
                for d in a.diagnostics.iter().filter(|d| {
                    let s = d.primary.span;
                    s.file == file && s.start <= to && s.end >= from
                }) {
                    for fix in ide::fixes(a, d) {
                        actions.push(convert::quick_fix(&a.files, &uri, d, &fix));
                    }
                }
                json(actions)
            }
            "textDocument/semanticTokens/full" => {
                let p: lsp::SemanticTokensParams = params(req.params)?;
                let Some((a, file)) = self.analysis(&p.text_document.uri) else { return Ok(Value::Null) };
                json(convert::semantic_tokens(&a.files, file, &ide::tokens(a, file)))
            }
            _ => Err(Refusal::Unknown),
        }
    }
}

enum Refusal {
    Params(String),
    Unknown,
    Failed(String),
}
