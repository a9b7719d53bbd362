import CSQLite
import Foundation
import Logging
import Synchronization
import TallyStore

/// A thin, synchronous handle on one SQLite connection. Not thread-safe: each is owned by one queue.
final class Connection {
    let handle: OpaquePointer
    private var statements: [String: Statement] = [:]

    init(path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "cannot open \(path)")
        }
        handle = db
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_extended_result_codes(db, 1)
        // Applies only to a file that is still empty (a store's page size is fixed when it is
        // created): a new store gets 16 KiB pages, which halved the number of pages and of WAL
        // frames and was faster for file and HTTP ingest and the report benchmark alike.
        if !readOnly { try execute("PRAGMA page_size=\(Connection.pageSize)") }
    }

    /// The page size of a newly created database file.
    static let pageSize = 16_384

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg)
        }
    }

    /// A cached prepared statement, reset and ready to bind.
    func prepare(_ sql: String) throws -> Statement {
        if let s = statements[sql] {
            s.reset()
            return s
        }
        let s = try Statement(connection: self, sql: sql)
        statements[sql] = s
        return s
    }

    /// Resets every cached statement, ending any read transaction a statement left open
    /// (a statement stepped to a row but not to its end keeps its snapshot alive).
    func resetAll() {
        for s in statements.values { s.reset() }
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// Checkpoints a WAL database on its own connection and queue whenever a commit leaves `pages`
/// pages or more in the WAL, so the committing writer does not wait for it.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: it copies the
/// WAL's pages into the main file and syncs that file before the commit returns. A PASSIVE
/// checkpoint here does the same beside the next transactions (in WAL mode neither readers nor
/// the writer wait for a checkpoint). Durability is unchanged: a commit is synced in the WAL.
final class Checkpointer: @unchecked Sendable {
    private let queue = DispatchQueue(label: "tally.sqlite.checkpoint")
    private let connection: Connection  // only touched on queue
    let pages: Int32
    private let logger: Logger
    /// Whether a checkpoint is queued and not started yet (commits meanwhile need no other), and
    /// the WAL's size in pages when the last one was asked for.
    private let state = Mutex<(queued: Bool, asked: Int32)>((false, 0))

    init(path: String, pages: Int32, logger: Logger) throws {
        connection = try Connection(path: path, readOnly: false)
        try connection.execute("PRAGMA synchronous=FULL")
        self.pages = pages
        self.logger = logger
    }

    /// Takes over `writer`'s commits from SQLite's automatic checkpoint (`detach` before this is freed).
    func attach(to writer: Connection) {
        sqlite3_wal_hook(writer.handle, { context, _, _, frames in
            Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue().committed(frames: frames)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    func detach(from writer: Connection) {
        sqlite3_wal_hook(writer.handle, nil, nil)
    }

    /// Called by SQLite on the writer after each commit with the number of pages in the WAL.
    ///
    /// Counts the pages added since the last checkpoint was asked for, not all in the WAL: while a
    /// checkpoint runs the writer cannot start the WAL over, and one per commit would sync the main file each time.
    private func committed(frames: Int32) {
        let start = state.withLock { s in
            if frames < s.asked { s.asked = 0 }  // the WAL started over
            guard frames - s.asked >= pages, !s.queued else { return false }
            s.asked = frames
            s.queued = true
            return true
        }
        if start { queue.async { self.run() } }
    }

    private func run() {
        state.withLock { $0.queued = false }
        var log: Int32 = 0, copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        // BUSY: another connection is checkpointing; the next commit asks again.
        if rc != SQLITE_OK, rc & 0xff != SQLITE_BUSY {
            logger.warning("sqlite checkpoint failed", metadata: ["store.error": "\(connection.error(rc))"])
        }
    }

    /// Waits for the checkpoint that is running or queued, if any.
    func wait() {
        queue.sync {}
    }
}

/// An SQLite failure; its message is for logs only, never for clients.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var description: String { "SQLite error \(code): \(message)" }
}

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

final class Statement {
    let pointer: OpaquePointer
    unowned let connection: Connection

    init(connection: Connection, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw connection.error(rc) }
        pointer = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(pointer) }

    func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(pointer, i, v) }
    func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(pointer, i, v, -1, SQLITE_TRANSIENT) }
    func bind(_ i: Int32, blob v: [UInt8]) {
        v.withUnsafeBytes { _ = sqlite3_bind_blob64(pointer, i, $0.baseAddress, sqlite3_uint64($0.count), SQLITE_TRANSIENT) }
    }

    /// Steps once; true when a row is available.
    func step() throws -> Bool {
        let rc = sqlite3_step(pointer)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error(rc)
    }

    func run() throws {
        while try step() {}
    }

    func int(_ col: Int32) -> Int64 { sqlite3_column_int64(pointer, col) }
    func text(_ col: Int32) -> String {
        guard let p = sqlite3_column_text(pointer, col) else { return "" }
        return String(cString: p)
    }
    func isNull(_ col: Int32) -> Bool { sqlite3_column_type(pointer, col) == SQLITE_NULL }
    /// The bytes of a blob column, valid until the next step or reset.
    func blob(_ col: Int32) -> UnsafeRawBufferPointer {
        let p = sqlite3_column_blob(pointer, col)
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(pointer, col)))
    }
}
