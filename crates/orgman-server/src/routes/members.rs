//! Members: listing, adding, changing roles, removing, bulk CSV import.

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use futures_util::{StreamExt, TryStreamExt};
use orgman_domain::{
    BlankRole, ImportEntry, ImportOutcome, MemberCursor, MemberImport, MemberQuery, OrgRole,
    OrganizationId, RoleKey, SearchPrefix, UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::config::{ImportLimits, MultipartLimits};
use crate::csv_stream::{CsvError, CsvStream, Record};
use crate::dto::{MemberView, RoleText};
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

/// The member directory's query: a search, a role, a page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MemberListQuery {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page: opaque, it names a member,
    /// and the page starts after them in its own order.
    #[param(
        max_length = 600,
        pattern = r"^m\.[0-9a-f]{32}\.-?[0-9]{1,20}\.([0-9a-f]{2}){0,250}$"
    )]
    after: Option<String>,
    /// A case-insensitive prefix of the member's e-mail address or of any
    /// word of their name (at most 100 characters, no control
    /// characters). The answer is then ordered by e-mail address; without
    /// it, by join date.
    #[param(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    search: Option<String>,
    /// Only members with this built-in role.
    #[param(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    role: Option<String>,
}

impl MemberListQuery {
    fn query(&self) -> Result<MemberQuery, ApiError> {
        let invalid =
            |message: String| ApiError::bad_request(ProblemCode::InvalidQueryParameter, message);
        let search = SearchPrefix::parse(self.search.as_deref().unwrap_or_default())
            .map_err(|e| invalid(e.to_string()))?;
        let role = self
            .role
            .as_deref()
            .map(|r| {
                r.parse::<OrgRole>()
                    .map_err(|_| invalid("role is one of OWNER, ADMIN, MEMBER".into()))
            })
            .transpose()?;
        let after = self
            .after
            .as_deref()
            .map(|a| {
                MemberCursor::decode(a)
                    .map_err(|_| invalid("after is not a cursor this list gave".into()))
            })
            .transpose()?;
        let limit = super::page_of(None::<Uuid>, self.limit)?.limit();
        Ok(MemberQuery {
            search,
            role,
            after,
            limit,
        })
    }
}

/// The organization's members (members and platform administrators), with
/// their e-mail addresses and names: the member directory. `search` finds
/// members by a prefix of their e-mail address or of a word of their name
/// in any organization size (an index range, never a scan of the members);
/// a member who just joined is found by the next search.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path), MemberListQuery),
    responses(
        (status = 200, body = MemberPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/members")]
pub(crate) async fn list_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    query: Query<MemberListQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    let found = state
        .service
        .directory(&auth.actor, OrganizationId::from_uuid(*id), &query.query()?)
        .await?;
    Ok(Json(MemberPage {
        items: found.items.iter().map(MemberView::of_entry).collect(),
        next_cursor: found.next.map(|c| c.encode()),
    }))
}

/// Every member of the organization as CSV (`text/csv`, UTF-8, a header
/// line, by join date): `userId,email,displayName,givenName,familyName,
/// role,roles,joinedAt,updatedAt`. Streamed page by page, so an export
/// of any size holds one page in memory. A cell a spreadsheet would run as
/// a formula (starting with `=`, `+`, `-`, `@`) is prefixed with `'`. A
/// failure after the first page ends the body early without its last line
/// break; the response's trailer cannot say more.
#[utoipa::path(
    tag = "members",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, content_type = "text/csv", body = String), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{id}/members/export")]
pub(crate) async fn export_members(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let organization = OrganizationId::from_uuid(*id);
    let mut export = state
        .service
        .export_members(&auth.actor, organization)
        .await?;
    // The first page is read before answering, so an unavailable store is
    // a 503, not a 200 with an empty body.
    let first = export.next_page().await?.unwrap_or_default();
    let head = futures_util::stream::once(async move {
        let mut text = String::from(crate::member_csv::HEADER);
        crate::member_csv::write_rows(&mut text, &first);
        Ok::<_, std::io::Error>(actix_web::web::Bytes::from(text))
    });
    // The next page is read while this one is written out: PostgreSQL
    // and the encoding work side by side. At most one page waits in the
    // channel, so memory stays a few pages whatever the size; a client
    // that goes away drops the receiver, which ends the reading.
    let (pages, receiver) = tokio::sync::mpsc::channel(1);
    actix_web::rt::spawn(async move {
        loop {
            let next = export.next_page().await;
            let last = !matches!(next, Ok(Some(_)));
            if pages.send(next).await.is_err() || last {
                return;
            }
        }
    });
    let rest = futures_util::stream::unfold(receiver, move |mut receiver| async move {
        let page = match receiver.recv().await? {
            Ok(Some(page)) => page,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%organization, %error, "a member export ended early");
                return Some((Err(std::io::Error::other(error.to_string())), receiver));
            }
        };
        let mut text = String::with_capacity(page.len() * 160);
        crate::member_csv::write_rows(&mut text, &page);
        Some((Ok(actix_web::web::Bytes::from(text)), receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"members-{organization}.csv\""),
        ))
        .streaming(head.chain(rest)))
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
    let roles = match (&body.role, &body.roles) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(vec![crate::problem::FieldError {
                field: "roles".into(),
                message: "give role or roles, not both".into(),
            }]));
        }
        (_, Some(roles)) => crate::dto::member_roles(roles)?,
        (role, None) => orgman_domain::MemberRoles::built_in(body_role(role.as_deref())?),
    };
    let membership = state
        .roles
        .add_member(
            &auth.actor,
            OrganizationId::from_uuid(*id),
            UserId::from_uuid(body.user_id),
            roles,
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
    /// whose header names a `userId` column and optionally a `role` column
    /// (the built-in role) and a `roles` column (custom and platform role
    /// keys, separated by `;`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds members from a CSV file (multipart field `file`, columns `userId`,
/// optional `role` (OWNER, ADMIN or MEMBER) and optional `roles` (the
/// organization's custom role keys and platform role keys, separated by
/// `;`: `billing-viewer;auditor`), any others ignored), read as it arrives
/// and applied in chunks of `ORGMAN_IMPORT_CHUNK_SIZE` rows, each chunk in one
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
    /// `userId`, `role` and `roles` column positions, once the header was
    /// read.
    columns: Option<(usize, Option<usize>, Option<usize>)>,
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
        let Some((user_column, role_column, roles_column)) = self.columns else {
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
            self.columns = Some((user_column, column("role"), column("roles")));
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
                    Ok(role) => {
                        let keys = roles_column.map(field).unwrap_or(Some(None));
                        match keys.map(custom_role_keys) {
                            Some(Ok(keys)) => ReadRow::Entry(
                                ImportEntry::new(UserId::from_uuid(user_id), role)
                                    .with_custom_roles(keys),
                            ),
                            _ => refused(
                                Some(user_id),
                                ProblemCode::ValidationFailed,
                                "roles must be role keys separated by ';'",
                            ),
                        }
                    }
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

/// Keeps the report of an import while the domain runs it
/// ([`MemberImport::run`]).
struct ImportApplier {
    limits: ImportLimits,
    report: ImportReport,
    committed_through_line: u64,
    /// Set if a committed chunk could not be reported.
    broken: Option<ApiError>,
}

impl ImportApplier {
    fn new(limits: ImportLimits) -> Self {
        Self {
            limits,
            report: ImportReport::default(),
            committed_through_line: 0,
            broken: None,
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

    /// Hands the chunks to the domain as the reader sends them, and reports
    /// each committed one.
    async fn apply_all(
        &mut self,
        import: &MemberImport<'_>,
        chunks: tokio::sync::mpsc::Receiver<Chunk>,
    ) -> Result<(), ApiError> {
        let chunks = futures_util::stream::unfold(chunks, |mut chunks| async move {
            let rows = chunks.recv().await?;
            let entries = entries_of(&rows);
            Some(((rows, entries), chunks))
        });
        import
            .run(chunks, |rows, outcomes| {
                if self.broken.is_none() {
                    if let Err(error) = self.record(rows, outcomes) {
                        self.broken = Some(error);
                    }
                }
            })
            .await?;
        self.broken.take().map_or(Ok(()), Err)
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

/// A `roles` cell: custom and platform role keys separated by `;` (blank
/// for none; at most 20).
fn custom_role_keys(cell: Option<&str>) -> Result<Vec<RoleKey>, ()> {
    let keys: Vec<RoleKey> = cell
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| RoleKey::parse(key).map_err(drop))
        .collect::<Result<_, _>>()?;
    if keys.len() > 20 { Err(()) } else { Ok(keys) }
}

fn entries_of(rows: &Chunk) -> Vec<ImportEntry> {
    rows.iter()
        .filter_map(|(_, row)| match row {
            ReadRow::Entry(entry) => Some(entry.clone()),
            ReadRow::Refused(_) => None,
        })
        .collect()
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

/// Body of `POST /api/v1/organizations/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AddMember {
    /// The user to add.
    pub(crate) user_id: Uuid,
    /// `OWNER`, `ADMIN` or `MEMBER` (default `MEMBER`).
    #[serde(default)]
    #[schema(example = "MEMBER", pattern = "^(OWNER|ADMIN|MEMBER)$")]
    pub(crate) role: Option<String>,
    /// Instead of `role`: every role the member gets, at most one of
    /// `OWNER`, `ADMIN` and `MEMBER` (`MEMBER` when none is named) and the
    /// organization's custom role keys.
    #[serde(default)]
    #[schema(max_items = 21)]
    pub(crate) roles: Option<Vec<RoleText>>,
}

/// Body of `PATCH /api/v1/organizations/{id}/members/{userId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRole {
    /// `OWNER`, `ADMIN` or `MEMBER`.
    #[schema(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    pub(crate) role: String,
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberPage {
    /// The items.
    pub(crate) items: Vec<MemberView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
}

/// A refused row of a member import.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportRow {
    /// The 1-based line the row starts on (the header is line 1).
    pub(crate) line: u64,
    /// The user id of the row, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<Uuid>,
    /// Always `failed` (only refused rows are listed).
    pub(crate) status: &'static str,
    /// The problem code, as a single request would answer it.
    pub(crate) code: crate::problem::ProblemCode,
    /// What went wrong.
    pub(crate) detail: String,
}

/// The result of a member import.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportReport {
    /// Rows added.
    pub(crate) added: u64,
    /// Rows whose user already was a member with that role.
    pub(crate) unchanged: u64,
    /// Rows refused.
    pub(crate) failed: u64,
    /// The refused rows, in file order, at most
    /// `ORGMAN_IMPORT_MAX_REPORTED_FAILURES` of them.
    pub(crate) rows: Vec<ImportRow>,
    /// Whether more rows were refused than are listed.
    pub(crate) rows_truncated: bool,
}
