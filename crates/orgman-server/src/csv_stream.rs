//! CSV read as it arrives: bytes in, whole records out, with memory bounded
//! by the longest record rather than by the file.

use csv_core::{ReadRecordResult, Reader};

/// Longest record accepted, in bytes of field data.
const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Most fields in one record.
const MAX_FIELDS: usize = 256;

/// One CSV record with the line it starts on (1-based).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) line: u64,
    /// Fields, trimmed; `None` where a field is not UTF-8.
    pub(crate) fields: Vec<Option<String>>,
}

/// The stream cannot be read as CSV at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CsvError {
    /// A record longer than [`MAX_RECORD_BYTES`] or with more than
    /// [`MAX_FIELDS`] fields.
    #[error("the record on line {line} is too long")]
    RecordTooLong { line: u64 },
}

/// A push parser: [`CsvStream::feed`] each chunk of bytes as it arrives,
/// then [`CsvStream::finish`].
pub(crate) struct CsvStream {
    reader: Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// The last byte consumed, across calls.
    last_byte: Option<u8>,
}

impl CsvStream {
    pub(crate) fn new() -> Self {
        Self {
            reader: Reader::new(),
            output: vec![0; 256],
            ends: vec![0; 8],
            out_len: 0,
            ends_len: 0,
            last_byte: None,
        }
    }

    /// Parses `input`, appending every record it completes to `records`.
    pub(crate) fn feed(&mut self, input: &[u8], records: &mut Vec<Record>) -> Result<(), CsvError> {
        self.read(input, records)
    }

    /// Ends the stream: the last record may have had no line terminator.
    pub(crate) fn finish(&mut self, records: &mut Vec<Record>) -> Result<(), CsvError> {
        self.read(&[], records)
    }

    fn read(&mut self, mut input: &[u8], records: &mut Vec<Record>) -> Result<(), CsvError> {
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            if let Some(i) = nin.checked_sub(1) {
                self.last_byte = Some(input[i]);
            }
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match result {
                ReadRecordResult::InputEmpty => return Ok(()),
                ReadRecordResult::End => return Ok(()),
                ReadRecordResult::OutputFull => {
                    if self.output.len() >= MAX_RECORD_BYTES {
                        return Err(CsvError::RecordTooLong {
                            line: self.reader.line(),
                        });
                    }
                    let grown = (self.output.len() * 2).min(MAX_RECORD_BYTES);
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(CsvError::RecordTooLong {
                            line: self.reader.line(),
                        });
                    }
                    let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    let mut fields = Vec::with_capacity(self.ends_len);
                    let mut start = 0;
                    for &end in &self.ends[..self.ends_len] {
                        let bytes = &self.output[start..end];
                        fields.push(std::str::from_utf8(bytes).ok().map(|s| s.trim().to_owned()));
                        start = end;
                    }
                    // The line the record ends on (the reader counts a
                    // `\n` terminator as soon as it is read), less the line
                    // breaks inside quoted fields.
                    let end_line = match self.last_byte {
                        Some(b'\n') => self.reader.line() - 1,
                        _ => self.reader.line(),
                    };
                    let inner = self.output[..self.out_len]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count() as u64;
                    let line = end_line.saturating_sub(inner).max(1);
                    self.out_len = 0;
                    self.ends_len = 0;
                    let blank = matches!(fields.as_slice(), [Some(only)] if only.is_empty());
                    if !blank {
                        records.push(Record { line, fields });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(text: &str, piece: usize) -> Result<Vec<Record>, CsvError> {
        let mut stream = CsvStream::new();
        let mut records = Vec::new();
        for chunk in text.as_bytes().chunks(piece) {
            stream.feed(chunk, &mut records)?;
        }
        stream.finish(&mut records)?;
        Ok(records)
    }

    fn simple(records: &[Record]) -> Vec<(u64, Vec<&str>)> {
        records
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.fields
                        .iter()
                        .map(|f| f.as_deref().unwrap_or("?"))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn records_are_the_same_whatever_the_pieces() {
        let text = "userId,role\n a , ADMIN \n\"b,c\",MEMBER\r\n\r\nlast,OWNER";
        let expected = vec![
            (1, vec!["userId", "role"]),
            (2, vec!["a", "ADMIN"]),
            (3, vec!["b,c", "MEMBER"]),
            (5, vec!["last", "OWNER"]),
        ];
        for piece in [1, 2, 3, 7, 1000] {
            let records = parse_in_pieces(text, piece).unwrap();
            assert_eq!(simple(&records), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn a_quoted_field_may_span_lines_and_the_next_line_counts_on() {
        let records = parse_in_pieces("a,\"x\ny\"\nb,z\n", 4).unwrap();
        assert_eq!(
            simple(&records),
            vec![(1, vec!["a", "x\ny"]), (3, vec!["b", "z"])]
        );
    }

    #[test]
    fn invalid_utf8_is_a_field_without_text() {
        let mut stream = CsvStream::new();
        let mut records = Vec::new();
        stream.feed(b"ok,\xff\xfe\n", &mut records).unwrap();
        assert_eq!(records[0].fields, vec![Some("ok".into()), None]);
    }

    #[test]
    fn an_endless_record_is_refused_not_buffered() {
        let long = "x".repeat(MAX_RECORD_BYTES + 10);
        assert_eq!(
            parse_in_pieces(&format!("a\n{long}\n"), 4096).unwrap_err(),
            CsvError::RecordTooLong { line: 2 }
        );
        let wide = ",".repeat(MAX_FIELDS + 1);
        assert_eq!(
            parse_in_pieces(&format!("{wide}\n"), 100).unwrap_err(),
            CsvError::RecordTooLong { line: 1 }
        );
    }
}
