//! Built bundles (`.evrb`): what `evr build` writes and hosts load — the sources of a bundle,
//! the compiled descriptor set of every schema they use, each unit's content hash, the
//! compiler's version and a hash of it all, as one versioned protobuf message.
//!
//! A host never trusts a bundle's code: loading checks the stored sources again, against the
//! stored schemas (no `.proto` file, no include path is read), and refuses the bundle unless
//! every unit comes out with the hash it was built with. So a bundle is exactly as safe to run
//! as its sources, and its units' hashes are what a reload diffs.
//!
//! The file is `MAGIC`, then an [`Envelope`]: the encoded [`Body`] and its xxh3 hash, so that
//! truncation and corruption are found before anything in the body is believed.

use std::fmt;

use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorSet;

use crate::Analysis;
use crate::files::Files;
use crate::ir::UnitRef;
use crate::meaning;

/// The first bytes of every built bundle.
pub const MAGIC: &[u8; 8] = b"EVRB\r\n\x1a\n";
/// The layout of [`Body`]; a bundle of another format is refused.
pub const FORMAT: u32 = 1;
/// The compiler that builds and loads bundles: a bundle built by another one is refused, since
/// its units' hashes may not mean the same.
pub const COMPILER: &str = concat!("evr ", env!("CARGO_PKG_VERSION"));

#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    #[prost(bytes = "vec", tag = "1")]
    pub body: Vec<u8>,
    /// xxh3-64 of `body`.
    #[prost(fixed64, tag = "2")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Body {
    #[prost(uint32, tag = "1")]
    pub format: u32,
    #[prost(string, tag = "2")]
    pub compiler: String,
    /// A `google.protobuf.FileDescriptorSet` of every schema the sources use, imports included.
    #[prost(bytes = "vec", tag = "3")]
    pub descriptors: Vec<u8>,
    /// The `.evr` files, in evaluation order.
    #[prost(message, repeated, tag = "4")]
    pub sources: Vec<SourceText>,
    #[prost(message, repeated, tag = "5")]
    pub units: Vec<UnitEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SourceText {
    /// As diagnostics name the file.
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UnitEntry {
    /// `drop`, `score` or `rule`.
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub name: String,
    /// [`meaning::unit_hash`].
    #[prost(fixed64, tag = "3")]
    pub hash: u64,
    #[prost(string, tag = "4")]
    pub source: String,
    /// The sinks a rule writes to.
    #[prost(string, repeated, tag = "5")]
    pub sinks: Vec<String>,
}

/// Why a bundle file was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleError {
    NotABundle,
    Damaged(String),
    Incompatible(String),
    /// The sources do not check, or their units do not hash as built.
    Mismatch(String),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotABundle => f.write_str("not a built bundle (no EVRB header); build one with `evr build`"),
            BundleError::Damaged(why) => write!(f, "the bundle is damaged: {why}"),
            BundleError::Incompatible(why) => write!(f, "the bundle cannot be loaded by this evr: {why}"),
            BundleError::Mismatch(why) => write!(f, "the bundle does not hold what it says: {why}"),
        }
    }
}

/// The units of a checked program, as a bundle lists them.
pub fn units(analysis: &Analysis) -> Vec<UnitEntry> {
    let (program, schema) = (&analysis.program, &analysis.schema);
    let mut meaning = meaning::Meaning::new(program, schema);
    program
        .units()
        .map(|r| {
            let u = program.unit(r);
            let sinks = match u.body {
                crate::ir::UnitBody::Rule(rule) => {
                    rule.writes().iter().map(|s| program.sinks[s.0 as usize].name.clone()).collect()
                }
                _ => Vec::new(),
            };
            UnitEntry {
                kind: match r {
                    UnitRef::Drop(_) => "drop",
                    UnitRef::Score(_) => "score",
                    UnitRef::Rule(_) => "rule",
                }
                .to_owned(),
                name: u.name.to_owned(),
                hash: meaning.unit(r),
                source: program.sources[u.source.0 as usize].name.clone(),
                sinks,
            }
        })
        .collect()
}

/// The bytes of a built bundle of a checked program (one without errors).
pub fn build(analysis: &Analysis) -> Vec<u8> {
    // Where definitions are in the `.proto` files is for editors, not for running.
    let file = analysis.schema.pool.file_descriptor_protos().cloned().map(|mut f| {
        f.source_code_info = None;
        f
    });
    let set = FileDescriptorSet { file: file.collect() };
    let body = Body {
        format: FORMAT,
        compiler: COMPILER.to_owned(),
        descriptors: set.encode_to_vec(),
        sources: analysis
            .files
            .iter()
            .filter(|(_, f)| !f.name.ends_with(".proto"))
            .map(|(_, f)| SourceText { name: f.name.clone(), text: f.text.to_string() })
            .collect(),
        units: units(analysis),
    };
    let body = body.encode_to_vec();
    let hash = xxhash_rust::xxh3::xxh3_64(&body);
    let mut out = MAGIC.to_vec();
    Envelope { body, hash }.encode(&mut out).unwrap_or_default();
    out
}

/// Whether bytes begin as a built bundle does.
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads a bundle's body, refusing one that is damaged or of another format or compiler.
pub fn read(bytes: &[u8]) -> Result<Body, BundleError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(BundleError::NotABundle)?;
    let envelope = Envelope::decode(rest).map_err(|e| BundleError::Damaged(format!("truncated or corrupted ({e})")))?;
    if xxhash_rust::xxh3::xxh3_64(&envelope.body) != envelope.hash {
        return Err(BundleError::Damaged("its content does not match its hash".into()));
    }
    let body = Body::decode(envelope.body.as_slice()).map_err(|e| BundleError::Damaged(e.to_string()))?;
    if body.format != FORMAT {
        return Err(BundleError::Incompatible(format!(
            "bundle format {}, this evr reads format {FORMAT}",
            body.format
        )));
    }
    if body.compiler != COMPILER {
        return Err(BundleError::Incompatible(format!(
            "built by {}, this is {COMPILER}; build it again with this evr",
            body.compiler
        )));
    }
    Ok(body)
}

/// Checks a bundle's sources against its schemas. The analysis may hold errors (the caller
/// shows them); when it holds none, every unit has the hash the bundle lists, or the bundle is
/// refused.
pub fn analyze(body: &Body) -> Result<Analysis, BundleError> {
    let pool = DescriptorPool::decode(body.descriptors.as_slice())
        .map_err(|e| BundleError::Damaged(format!("its schemas do not load: {e}")))?;
    let mut files = Files::default();
    for s in &body.sources {
        files.add(&s.name, s.name.clone(), s.text.clone());
    }
    let analysis = crate::analyze_with(files, Some(pool));
    if analysis.has_errors() {
        return Ok(analysis);
    }
    let now = units(&analysis);
    if now.len() != body.units.len() {
        return Err(BundleError::Mismatch(format!("{} units listed, {} in its sources", body.units.len(), now.len())));
    }
    if let Some((listed, _)) = body.units.iter().zip(&now).find(|(a, b)| a != b) {
        return Err(BundleError::Mismatch(format!("unit `{}` is not what its sources say", listed.name)));
    }
    Ok(analysis)
}
