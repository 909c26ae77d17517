//! Turning results and errors into pgwire backend messages.

use crate::context::Column;
use crate::session::Notice;
use crate::types::{DataType, Datum, Row};
use crate::{Error, Result};
use bytes::{BufMut, BytesMut};
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};
use pgwire::messages::response::{ErrorResponse, NoticeResponse};

/// Wire format of one column or parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text (format code 0).
    Text,
    /// Binary (format code 1).
    Binary,
}

impl Format {
    fn from_code(code: i16) -> Result<Format> {
        match code {
            0 => Ok(Format::Text),
            1 => Ok(Format::Binary),
            other => Err(Error::new(
                crate::error::code::PROTOCOL_VIOLATION,
                format!("unsupported format code: {other}"),
            )),
        }
    }

    fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// Expands the protocol's format-code list (none: all text; one: applies to all; else one
/// per item) to `n` formats.
pub fn resolve_formats(codes: &[i16], n: usize, what: &str) -> Result<Vec<Format>> {
    match codes.len() {
        0 => Ok(vec![Format::Text; n]),
        1 => Ok(vec![Format::from_code(codes[0])?; n]),
        k if k == n => codes.iter().map(|c| Format::from_code(*c)).collect(),
        k => Err(Error::new(
            crate::error::code::PROTOCOL_VIOLATION,
            format!("bind message has {k} {what} formats but {n} {what}s"),
        )),
    }
}

/// RowDescription for `columns` in `formats`.
pub fn row_description(columns: &[Column], formats: &[Format]) -> RowDescription {
    let fields = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = wire_type(&c.ty);
            FieldDescription::new(
                c.name.clone(),
                0,
                0,
                ty.oid(),
                ty.typlen(),
                ty.typmod(),
                formats.get(i).copied().unwrap_or(Format::Text).code(),
            )
        })
        .collect();
    RowDescription::new(fields)
}

/// The type reported to clients: an expression still of type `unknown` (a bare string
/// literal) is reported and sent as text, as PostgreSQL does for output columns.
pub fn wire_type(ty: &DataType) -> DataType {
    match ty {
        DataType::Unknown => DataType::Text,
        other => other.clone(),
    }
}

/// Encodes one row as a DataRow.
pub fn data_row(row: &Row, columns: &[Column], formats: &[Format]) -> Result<DataRow> {
    let mut data = BytesMut::with_capacity(row.len() * 8);
    for (i, d) in row.iter().enumerate() {
        let ty = columns
            .get(i)
            .map(|c| wire_type(&c.ty))
            .unwrap_or(DataType::Text);
        let value: Option<Vec<u8>> = match formats.get(i).copied().unwrap_or(Format::Text) {
            Format::Text => d.to_pg_text(&ty).map(String::into_bytes),
            Format::Binary => d.to_pg_binary(&ty)?,
        };
        match value {
            Some(bytes) => {
                let len = i32::try_from(bytes.len()).map_err(|_| {
                    Error::new(
                        crate::error::code::PROGRAM_LIMIT_EXCEEDED,
                        "value too large to send",
                    )
                })?;
                data.put_i32(len);
                data.put_slice(&bytes);
            }
            None => data.put_i32(-1),
        }
    }
    let count = i16::try_from(row.len()).map_err(|_| {
        Error::new(
            crate::error::code::PROGRAM_LIMIT_EXCEEDED,
            "too many columns",
        )
    })?;
    Ok(DataRow::new(data, count))
}

/// Decodes one bound parameter.
pub fn decode_param(value: Option<&[u8]>, ty: &DataType, format: Format) -> Result<Datum> {
    let Some(bytes) = value else {
        return Ok(Datum::Null);
    };
    let ty = wire_type(ty);
    match format {
        Format::Text => {
            let s = std::str::from_utf8(bytes)
                .map_err(|_| Error::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
            Datum::from_pg_text(s, &ty)
        }
        Format::Binary => Datum::from_pg_binary(bytes, &ty),
    }
}

fn fields(severity: &str, code: &str, message: &str) -> Vec<(u8, String)> {
    vec![
        (b'S', severity.to_string()),
        (b'V', severity.to_string()),
        (b'C', code.to_string()),
        (b'M', message.to_string()),
    ]
}

/// ErrorResponse for a SQL error; `severity` is "ERROR" or "FATAL".
pub fn error_response(e: &Error, severity: &str) -> ErrorResponse {
    let mut f = fields(severity, e.code, &e.message);
    if let Some(d) = &e.detail {
        f.push((b'D', d.clone()));
    }
    if let Some(h) = &e.hint {
        f.push((b'H', h.clone()));
    }
    ErrorResponse::new(f)
}

/// NoticeResponse.
pub fn notice_response(n: &Notice) -> NoticeResponse {
    NoticeResponse::new(fields(n.severity, n.code, &n.message))
}

/// The CommandComplete tag: row counts are appended to the verbs PostgreSQL counts.
pub fn complete_tag(tag: &str, rows: usize) -> String {
    match tag {
        "SELECT" | "UPDATE" | "DELETE" | "FETCH" | "MOVE" | "COPY" | "INSERT 0" | "UPSERT" => {
            format!("{tag} {rows}")
        }
        _ => tag.to_string(),
    }
}
