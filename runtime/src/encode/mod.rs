//! Encoding records for their sinks: protobuf's JSON mapping (proto field names) or protobuf
//! binary. Fields without presence are left out when they hold their default.

pub mod json;
pub mod protobuf;

use evr_compiler::ir::WireFormat;
use evr_compiler::schema::Schema;
use evr_compiler::value::Value;

pub fn encode(schema: &Schema, format: WireFormat, record: &Value, out: &mut Vec<u8>) {
    match format {
        WireFormat::Json => json::encode(schema, record, out),
        WireFormat::Protobuf => protobuf::encode(schema, record, out),
    }
}
