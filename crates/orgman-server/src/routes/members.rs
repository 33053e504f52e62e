//! Members: listing, adding, changing roles, removing, bulk CSV import.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use futures_util::TryStreamExt;
use orgman_domain::{
    BlankRole, ImportEntry, ImportOutcome, MemberImport, OrgRole, OrganizationId, UserId,
};
use uuid::Uuid;

use super::page;
use crate::config::{ImportLimits, MultipartLimits};
use crate::csv_stream::{CsvError, CsvStream, Record};
use crate::dto::{
    AddMember, ChangeRole, ImportReport, ImportRow, MemberPage, MemberView, PageQuery,
};
use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, ImportProgress, Problem, ProblemCode};
use crate::state::AppState;

/// A CSV row's role: blank means MEMBER.
fn role(text: Option<&str>) -> Result<OrgRole, ApiError> {
    Ok(OrgRole::from_field(text, BlankRole::Member)?)
}

/// A JSON body's role: absent means MEMBER; a present one must be a role.
fn body_role(text: Option<&str>) -> Result<OrgRole, ApiError> {
    Ok(OrgRole::from_field(text, BlankRole::Refused)?)
}

/// The organization's members (members and platform administrators).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = MemberPage), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/members")]
pub(crate) async fn list_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    let found = state
        .service
        .members(&auth.actor, OrganizationId::from_uuid(*id), page(&query)?)
        .await?;
    Ok(Json(MemberPage {
        items: found.items.iter().map(MemberView::from).collect(),
        next_cursor: found.next.map(|u| u.as_uuid()),
    }))
}

/// Adds a user (OWNER and ADMIN of the organization, platform
/// administrators; only OWNERs add OWNERs).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path)),
    request_body = AddMember,
    responses(
        (status = 201, body = MemberView, headers(("Location" = String))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/members")]
pub(crate) async fn add_member(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let role = body_role(body.role.as_deref())?;
    let membership = state
        .service
        .add_member(
            &auth.actor,
            OrganizationId::from_uuid(*id),
            UserId::from_uuid(body.user_id),
            role,
        )
        .await?;
    let location = format!("/api/v1/organizations/{}/members/{}", *id, body.user_id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(MemberView::from(&membership)))
}

/// Changes a member's role.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    request_body = ChangeRole,
    responses(
        (status = 200, body = MemberView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{id}/members/{userId}")]
pub(crate) async fn change_role(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<ChangeRole>,
) -> Result<Json<MemberView>, ApiError> {
    let (org, user) = *path;
    let role = body_role(Some(&body.role))?;
    let membership = state
        .service
        .change_role(
            &auth.actor,
            OrganizationId::from_uuid(org),
            UserId::from_uuid(user),
            role,
        )
        .await?;
    Ok(Json(MemberView::from(&membership)))
}

/// Removes a member (members may remove themselves; the last OWNER stays).
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), ("userId" = Uuid, Path)),
    responses(
        (status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{id}/members/{userId}")]
pub(crate) async fn remove_member(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, user) = *path;
    state
        .service
        .remove_member(
            &auth.actor,
            OrganizationId::from_uuid(org),
            UserId::from_uuid(user),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The form of a member import.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the multipart body; read by `MemberImportReader`
pub(crate) struct ImportForm {
    /// A CSV file (`text/csv`, `text/plain` or `application/octet-stream`)
    /// whose header names a `userId` column and optionally a `role` column.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds members from a CSV file (multipart field `file`, columns `userId`
/// and optional `role`, any others ignored), read as it arrives and applied
/// in chunks of `ORGMAN_IMPORT_CHUNK_SIZE` rows, each chunk in one
/// transaction. A refused row does not undo the others. If the import
/// stops part-way (a limit reached, the organization changed state, a
/// dependency down), the problem's `imported` member says what was
/// committed; importing the same file again completes it, since rows
/// already in place count as `unchanged`.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path)),
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = ImportReport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{id}/members/import")]
pub(crate) async fn import_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    req: HttpRequest,
    payload: Multipart,
) -> Result<Json<ImportReport>, ApiError> {
    let limits = state.config.multipart;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limits.max_request_size) {
        return Err(too_large(
            ProblemCode::RequestTooLarge,
            limits.max_request_size,
        ));
    }
    // Refuse the whole upload up front rather than row by row.
    let import = state
        .service
        .start_import(&auth.actor, OrganizationId::from_uuid(*id))
        .await?;
    // The file is read and parsed into chunks while earlier chunks are
    // applied: a chunk waits in the channel while two are in the database.
    let (chunks, received) = tokio::sync::mpsc::channel(1);
    let reader = ImportReader::new(state.config.import, chunks);
    let mut applier = ImportApplier::new(state.config.import);
    let (read, applied) = futures_util::join!(
        reader.read(payload, limits),
        applier.apply_all(&import, received)
    );
    match applied.and(read) {
        Ok(()) => Ok(Json(applier.report)),
        Err(error) if import.totals().chunks > 0 => {
            Err(error.with_import_progress(applier.progress()))
        }
        Err(error) => Err(error),
    }
}

/// A data row read from the file: an entry to apply, or refused already.
enum ReadRow {
    Entry(ImportEntry),
    Refused(ImportRow),
}

/// Rows of the file (with their line numbers), applied as one chunk.
type Chunk = Vec<(u64, ReadRow)>;

/// Reads the upload into chunks of rows.
struct ImportReader {
    limits: ImportLimits,
    chunks: tokio::sync::mpsc::Sender<Chunk>,
    /// `userId` and `role` column positions, once the header was read.
    columns: Option<(usize, Option<usize>)>,
    /// Rows read and not yet sent, in file order.
    pending: Chunk,
    rows_read: u64,
}

/// The outcome of reading: `Stopped` when the applier stopped taking
/// chunks (it reports why).
enum Sent {
    Sent,
    Stopped,
}

impl ImportReader {
    fn new(limits: ImportLimits, chunks: tokio::sync::mpsc::Sender<Chunk>) -> Self {
        Self {
            limits,
            chunks,
            columns: None,
            pending: Vec::new(),
            rows_read: 0,
        }
    }
    /// Reads the multipart body, streaming the `file` part (or the first
    /// part with a file name) through the CSV parser into chunks.
    /// Consumes the reader: once it is done, the channel closes and the
    /// applier finishes the chunks it has.
    async fn read(
        mut self,
        mut payload: Multipart,
        limits: MultipartLimits,
    ) -> Result<(), ApiError> {
        let mut total = 0usize;
        let mut found = false;
        while let Some(mut field) = payload.try_next().await.map_err(multipart_error)? {
            let is_file = field
                .content_disposition()
                .is_some_and(|d| d.get_filename().is_some())
                || field.name() == Some("file");
            if !is_file || found {
                while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                    total += chunk.len();
                    if total > limits.max_request_size {
                        return Err(too_large(
                            ProblemCode::RequestTooLarge,
                            limits.max_request_size,
                        ));
                    }
                }
                continue;
            }
            found = true;
            if !field.content_type().is_none_or(acceptable_csv) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ProblemCode::UnsupportedFileType,
                    "Unsupported media type",
                    "the file must be CSV (text/csv)",
                ));
            }
            let mut csv = CsvStream::new();
            let mut records = Vec::new();
            let mut size = 0usize;
            while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                total += chunk.len();
                size += chunk.len();
                if total > limits.max_request_size {
                    return Err(too_large(
                        ProblemCode::RequestTooLarge,
                        limits.max_request_size,
                    ));
                }
                if size > limits.max_file_size {
                    return Err(too_large(ProblemCode::FileTooLarge, limits.max_file_size));
                }
                csv.feed(&chunk, &mut records).map_err(invalid_csv)?;
                if let Sent::Stopped = self.take(&mut records).await? {
                    return Ok(());
                }
            }
            csv.finish(&mut records).map_err(invalid_csv)?;
            if let Sent::Stopped = self.take(&mut records).await? {
                return Ok(());
            }
            if self.columns.is_none() {
                return Err(ApiError::bad_request(
                    ProblemCode::InvalidCsv,
                    "the file is empty: it must start with a header with a userId column",
                ));
            }
            if let Sent::Stopped = self.send(true).await {
                return Ok(());
            }
        }
        if found {
            Ok(())
        } else {
            Err(ApiError::bad_request(
                ProblemCode::MissingFile,
                "the multipart body must have a `file` part",
            ))
        }
    }

    /// Takes parsed records, sending each chunk as soon as it is full, so
    /// what is committed does not depend on how the upload was cut into
    /// network reads.
    async fn take(&mut self, records: &mut Vec<Record>) -> Result<Sent, ApiError> {
        for record in records.drain(..) {
            self.take_one(record)?;
            if let Sent::Stopped = self.send(false).await {
                return Ok(Sent::Stopped);
            }
        }
        Ok(Sent::Sent)
    }

    /// Takes one parsed record: the header first, then data rows.
    fn take_one(&mut self, record: Record) -> Result<(), ApiError> {
        let Some((user_column, role_column)) = self.columns else {
            let column = |name: &str| {
                record
                    .fields
                    .iter()
                    .position(|f| f.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(name)))
            };
            let user_column = column("userId").ok_or_else(|| {
                ApiError::bad_request(
                    ProblemCode::InvalidCsv,
                    "the CSV header must have a userId column",
                )
            })?;
            self.columns = Some((user_column, column("role")));
            return Ok(());
        };
        self.rows_read += 1;
        if self.rows_read > self.limits.max_rows {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ProblemCode::TooManyRows,
                "Payload too large",
                format!(
                    "an import holds at most {} rows; line {} is beyond that",
                    self.limits.max_rows, record.line
                ),
            ));
        }
        let field = |column: usize| record.fields.get(column).map(Option::as_deref);
        let refused = |user_id, code, detail: &str| {
            ReadRow::Refused(ImportRow {
                line: record.line,
                user_id,
                status: "failed",
                code,
                detail: detail.to_owned(),
            })
        };
        let row = match field(user_column)
            .flatten()
            .and_then(|u| Uuid::parse_str(u).ok())
        {
            None => refused(None, ProblemCode::InvalidUserId, "userId must be a UUID"),
            Some(user_id) => match role_column.map(field).unwrap_or(Some(None)) {
                None => refused(
                    Some(user_id),
                    ProblemCode::ValidationFailed,
                    "role is not UTF-8",
                ),
                Some(text) => match role(text) {
                    Ok(role) => ReadRow::Entry(ImportEntry {
                        user: UserId::from_uuid(user_id),
                        role,
                    }),
                    Err(error) => refused(
                        Some(user_id),
                        error.code(),
                        "role must be OWNER, ADMIN or MEMBER",
                    ),
                },
            },
        };
        self.pending.push((record.line, row));
        Ok(())
    }

    /// Sends full chunks of the rows read (and, at the end, the rest).
    async fn send(&mut self, last: bool) -> Sent {
        let size = self.limits.chunk_size;
        while self.pending.len() >= size || (last && !self.pending.is_empty()) {
            let chunk: Chunk = self.pending.drain(..size.min(self.pending.len())).collect();
            if self.chunks.send(chunk).await.is_err() {
                return Sent::Stopped;
            }
        }
        Sent::Sent
    }
}

/// A chunk being applied: its rows, and its stage-then-commit.
type Applying<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Chunk, Result<Vec<ImportOutcome>, ApiError>)> + 'a>,
>;

/// Applies chunks as they come, two at a time when they name no user in
/// common (see [`MemberImport`]), and keeps the report.
struct ImportApplier {
    limits: ImportLimits,
    report: ImportReport,
    committed_through_line: u64,
}

impl ImportApplier {
    fn new(limits: ImportLimits) -> Self {
        Self {
            limits,
            report: ImportReport::default(),
            committed_through_line: 0,
        }
    }

    fn progress(&self) -> ImportProgress {
        ImportProgress {
            added: self.report.added,
            unchanged: self.report.unchanged,
            failed: self.report.failed,
            committed_through_line: self.committed_through_line,
        }
    }

    /// Takes chunks until the reader is done, and stops at the first chunk
    /// that cannot be applied (the chunks after it are not committed).
    async fn apply_all(
        &mut self,
        import: &MemberImport<'_>,
        mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
    ) -> Result<(), ApiError> {
        use futures_util::StreamExt;

        let mut applying: futures_util::stream::FuturesOrdered<Applying<'_>> =
            futures_util::stream::FuturesOrdered::new();
        // The entries of the chunk started last, and a signal that it is
        // committed (true) or failed (false).
        let mut last: Option<(Vec<ImportEntry>, tokio::sync::oneshot::Receiver<bool>)> = None;
        let mut open = true;
        while open || !applying.is_empty() {
            tokio::select! {
                biased;
                Some((rows, result)) = applying.next(), if !applying.is_empty() => {
                    self.record(rows, result?)?;
                }
                chunk = chunks.recv(), if open && applying.len() < 2 => {
                    let Some(rows) = chunk else {
                        open = false;
                        continue;
                    };
                    let entries = entries_of(&rows);
                    let before = match last.take() {
                        // Sharing a user with the chunk before: start once
                        // that one is committed.
                        Some((previous, _)) if MemberImport::overlap(&previous, &entries) => {
                            while let Some((rows, result)) = applying.next().await {
                                self.record(rows, result?)?;
                            }
                            None
                        }
                        Some((_, committed)) => Some(committed),
                        None => None,
                    };
                    let (done, committed) = tokio::sync::oneshot::channel();
                    applying.push_back(Box::pin(apply_chunk(import, entries.clone(), rows, before, done)));
                    last = Some((entries, committed));
                }
            }
        }
        Ok(())
    }

    /// Reports a committed chunk's rows, in order.
    fn record(&mut self, rows: Chunk, outcomes: Vec<ImportOutcome>) -> Result<(), ApiError> {
        let mut outcomes = outcomes.into_iter();
        let through = rows.last().map_or(0, |(line, _)| *line);
        for (line, row) in rows {
            match row {
                ReadRow::Refused(refused) => self.refuse(refused),
                ReadRow::Entry(entry) => match outcomes.next() {
                    Some(ImportOutcome::Added) => self.report.added += 1,
                    Some(ImportOutcome::Unchanged) => self.report.unchanged += 1,
                    Some(ImportOutcome::Failed(error)) => {
                        let detail = error.to_string();
                        self.refuse(ImportRow {
                            line,
                            user_id: Some(entry.user.as_uuid()),
                            status: "failed",
                            code: ApiError::from(error).code(),
                            detail,
                        });
                    }
                    None => {
                        return Err(ApiError::internal("an import chunk lost an outcome"));
                    }
                },
            }
        }
        self.committed_through_line = through;
        Ok(())
    }

    fn refuse(&mut self, row: ImportRow) {
        self.report.failed += 1;
        if self.report.rows.len() < self.limits.max_reported_failures {
            self.report.rows.push(row);
        } else {
            self.report.rows_truncated = true;
        }
    }
}

fn entries_of(rows: &Chunk) -> Vec<ImportEntry> {
    rows.iter()
        .filter_map(|(_, row)| match row {
            ReadRow::Entry(entry) => Some(*entry),
            ReadRow::Refused(_) => None,
        })
        .collect()
}

/// Stages a chunk (beside the chunk before, which may still be in the
/// database), commits it once the chunk before is committed, and says so.
/// If the chunk before failed, this one is dropped uncommitted.
async fn apply_chunk(
    import: &MemberImport<'_>,
    entries: Vec<ImportEntry>,
    rows: Chunk,
    before: Option<tokio::sync::oneshot::Receiver<bool>>,
    done: tokio::sync::oneshot::Sender<bool>,
) -> (Chunk, Result<Vec<ImportOutcome>, ApiError>) {
    let staged = if entries.is_empty() {
        None
    } else {
        Some(import.stage(&entries).await)
    };
    let before_committed = match before {
        Some(committed) => committed.await.unwrap_or(false),
        None => true,
    };
    let result = match staged {
        _ if !before_committed => Err(ApiError::internal(
            "not committed: an earlier chunk of the import failed",
        )),
        None => Ok(Vec::new()),
        Some(Ok(staged)) => import.commit(staged).await.map_err(ApiError::from),
        Some(Err(error)) => Err(error.into()),
    };
    let _ = done.send(result.is_ok());
    (rows, result)
}

fn acceptable_csv(mime: &actix_web::mime::Mime) -> bool {
    matches!(
        (mime.type_().as_str(), mime.subtype().as_str()),
        ("text", "csv")
            | ("text", "plain")
            | ("application", "octet-stream")
            | ("application", "vnd.ms-excel")
    )
}

fn multipart_error(error: actix_multipart::MultipartError) -> ApiError {
    ApiError::bad_request(
        ProblemCode::InvalidMultipart,
        format!("cannot read the multipart body: {error}"),
    )
}

fn invalid_csv(error: CsvError) -> ApiError {
    ApiError::bad_request(ProblemCode::InvalidCsv, error.to_string())
}

fn too_large(code: ProblemCode, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code,
        "Payload too large",
        format!("the limit is {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use orgman_domain::{Actor, ImportEntry, ImportOutcome, OrgName, OrgRole, Slug, UserId};
    use orgman_memory::InMemory;

    use super::{ReadRow, apply_chunk};

    /// A chunk waits for the chunk before it and commits only if that one
    /// did: after a failure, nothing more of the file is written.
    #[tokio::test]
    async fn a_chunk_commits_only_after_the_one_before_committed() {
        let memory = InMemory::new();
        let service = memory.service();
        let admin = Actor::platform_admin(UserId::from_uuid(memory.ids.next()));
        memory.store.add_user(admin.user_id(), "admin");
        let org = service
            .create(
                &admin,
                OrgName::parse("Acme").unwrap(),
                Slug::parse("acme").unwrap(),
            )
            .await
            .unwrap();
        let users: Vec<UserId> = (0..2)
            .map(|n| {
                let user = UserId::from_uuid(memory.ids.next());
                memory.store.add_user(user, &format!("user-{n}"));
                user
            })
            .collect();
        let import = service.start_import(&admin, org.id()).await.unwrap();
        let chunk = |user: UserId| {
            let entry = ImportEntry {
                user,
                role: OrgRole::Member,
            };
            (vec![entry], vec![(2, ReadRow::Entry(entry))])
        };
        let events = memory.store.committed_events().len();

        // The chunk before failed: this one is dropped uncommitted.
        let (entries, rows) = chunk(users[0]);
        let (failed, before) = tokio::sync::oneshot::channel();
        let (done, committed) = tokio::sync::oneshot::channel();
        failed.send(false).unwrap();
        let (_, result) = apply_chunk(&import, entries, rows, Some(before), done).await;
        assert!(result.is_err());
        assert_eq!(committed.await, Ok(false), "and it says so to the next");
        assert_eq!(memory.store.committed_events().len(), events);
        assert_eq!(import.totals().chunks, 0);

        // The chunk before committed: this one commits, and says so.
        let (entries, rows) = chunk(users[1]);
        let (succeeded, before) = tokio::sync::oneshot::channel();
        let (done, committed) = tokio::sync::oneshot::channel();
        succeeded.send(true).unwrap();
        let (_, result) = apply_chunk(&import, entries, rows, Some(before), done).await;
        assert_eq!(result.unwrap(), [ImportOutcome::Added]);
        assert_eq!(committed.await, Ok(true));
        assert_eq!(memory.store.committed_events().len(), events + 1);
        assert_eq!(import.totals().added, 1);
    }
}
