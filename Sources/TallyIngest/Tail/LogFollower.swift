import Foundation
import Logging

/// Follows one log path through rotations, handing out complete lines and where they end.
///
/// - Only complete lines are handed out: a last line without its newline waits for it.
/// - Rename and create: the follower keeps reading the renamed file (its descriptor stays
///   valid) to its end, and leaves it once it stayed unchanged for `rotationGrace` and a new
///   file exists at the path. Next it reads any rotated sibling newer than the file it left (two
///   rotations while it was away), oldest first, then the live file from its start.
/// - Copy-truncate: when the file shrinks below the position, or its first bytes change, the
///   follower looks for the copy (a sibling whose first bytes match and that is long enough),
///   finishes that from the same offset, then reads the truncated file from its start; with no
///   copy it starts the file again from 0 (what was written between the last read and the copy
///   is then lost, the inherent race of copy-truncate). A file the follower has read nothing of
///   since its creation or last truncation cannot be told truncated: what was written to it and
///   copied away between two polls is not read. Prefer rename and create (Squid's own rotation).
/// - Resuming from a position: the file is found by identity (device and inode, checked
///   against the fingerprint of its first bytes) under its own or a rotated name; when it is
///   gone, the live file is read from its start.
///
/// Not thread-safe: one task owns a follower.
public final class LogFollower {
    public let path: String
    /// How long a rotated-away file must stay unchanged at its end before the follower leaves it
    /// (the writer may still append until it reopens its log).
    public var rotationGrace: Duration = .seconds(1)
    /// The most bytes one `read()` hands out.
    public var readSize = 1 << 20
    let logger: Logger
    private let directory: String
    private let baseName: String
    private var current: OpenLog?
    private var resume: TailPosition?
    private var idle: (since: ContinuousClock.Instant, size: Int64)?
    private var waitingLogged = false

    /// Complete lines read from one file.
    public struct Piece: Sendable {
        /// Whole lines, each ending with `\n`; or, when `unterminated`, the bytes after the last
        /// newline of a file the follower left for good (never metered).
        public var bytes: [UInt8]
        public var offset: Int64
        /// The number of the first line in its file, from 1.
        public var firstLine: Int64
        /// The file's name when the follower opened it.
        public var file: String
        public var unterminated: Bool
    }

    public init(path: String, resumeFrom position: TailPosition?, logger: Logger) {
        self.path = path
        self.logger = logger
        let url = URL(fileURLWithPath: path)
        directory = url.deletingLastPathComponent().path
        baseName = url.lastPathComponent
        resume = position
    }

    /// The position after everything handed out so far (nil before any file was found).
    public var position: TailPosition? {
        guard let c = current else { return resume }
        return TailPosition(file: c.identity, offset: c.offset, line: c.line, headLength: c.headLength, headHash: c.headHash)
    }

    /// Finds the file to read (the checkpoint's, else the live one) without reading; after it
    /// `position` is set when a file was found.
    public func open() throws {
        if current == nil { try start() }
    }

    /// The next complete lines, or nil when nothing new is there right now.
    public func read() throws -> Piece? {
        try open()
        while let log = current {
            try checkTruncation(log)
            guard let active = current else { return nil }
            var n = 0
            let buffer = [UInt8](unsafeUninitializedCapacity: readSize) { raw, initialized in
                n = pread(active.fd, raw.baseAddress, raw.count, off_t(active.offset))
                initialized = max(n, 0)
            }
            guard n >= 0 else { throw IngestError("cannot read \(active.name): \(String(cString: strerror(errno)))") }
            var cut = n
            while cut > 0, buffer[cut - 1] != 10 { cut -= 1 }
            var lines = Int64(newlines(buffer, cut))
            if cut == 0, n == readSize {
                // A line longer than a whole read: handed out as one (malformed) line.
                cut = n
                lines = 1
            }
            if cut > 0 {
                let piece = Piece(bytes: Array(buffer[0..<cut]), offset: active.offset, firstLine: active.line + 1, file: active.name, unterminated: false)
                active.offset += Int64(cut)
                active.line += lines
                active.updateHead()
                idle = nil
                return piece
            }
            guard let facts = FileFacts(fd: active.fd), isDetached(active) else { return nil }
            let now = ContinuousClock.now
            if idle?.size != facts.size { idle = (now, facts.size) }
            guard let since = idle?.since, now - since >= rotationGrace, let next = try openNext(after: active, modified: facts.modified) else {
                return nil
            }
            logger.info("leaving rotated log", metadata: ["tail.file": "\(active.name)", "tail.next": "\(next.name)", "tail.lines": "\(active.line)"])
            current = next
            idle = nil
            if n > 0 {
                return Piece(bytes: Array(buffer[0..<n]), offset: active.offset, firstLine: active.line + 1, file: active.name, unterminated: true)
            }
        }
        return nil
    }

    // MARK: Finding files

    private func start() throws {
        if let p = resume {
            if let found = try locate(p, excluding: nil) {
                logger.info("resuming log", metadata: ["tail.file": "\(found.name)", "tail.line": "\(found.line)", "tail.offset": "\(found.offset)"])
                current = found
                resume = nil
                return
            }
            guard let live = try openLive() else { return logWaiting() }
            logger.warning("the file of the checkpoint is gone; reading the live log from its start",
                           metadata: ["tail.checkpoint": "\(p)", "tail.file": "\(path)"])
            current = live
            resume = nil
        } else {
            guard let live = try openLive() else { return logWaiting() }
            current = live
        }
    }

    private func logWaiting() {
        if !waitingLogged { logger.info("waiting for the log to appear", metadata: ["tail.file": "\(path)"]) }
        waitingLogged = true
    }

    private func openLive() throws -> OpenLog? {
        try OpenLog(name: path, offset: 0, line: 0)
    }

    /// The file a position points into, by identity, else a copy of it (same first bytes).
    private func locate(_ p: TailPosition, excluding excluded: FileIdentity?) throws -> OpenLog? {
        let names = [path] + siblings()
        var copies: [(String, FileFacts)] = []
        for name in names {
            guard let facts = FileFacts(path: name), facts.identity != excluded, facts.size >= p.offset else { continue }
            if facts.identity == p.file {
                if let log = try open(name, at: p) { return log }
            } else if p.headLength > 0 {
                copies.append((name, facts))
            }
        }
        for (name, _) in copies.sorted(by: { $0.1.size > $1.1.size }) {
            if let log = try open(name, at: p) {
                logger.warning("continuing in a copy of the log", metadata: ["tail.file": "\(name)", "tail.offset": "\(p.offset)"])
                return log
            }
        }
        return nil
    }

    /// Opens `name` at `p` when its first bytes still match the fingerprint.
    private func open(_ name: String, at p: TailPosition) throws -> OpenLog? {
        guard let log = try OpenLog(name: name, offset: p.offset, line: p.line), log.headMatches(length: p.headLength, hash: p.headHash) else { return nil }
        log.headLength = p.headLength
        log.headHash = p.headHash
        return log
    }

    /// What to read after leaving `left`: a rotated sibling newer than it, else the live file.
    private func openNext(after left: OpenLog, modified: Int64) throws -> OpenLog? {
        let live = FileFacts(path: path)
        let newer = siblings(rotatedOnly: true).compactMap { name -> (String, FileFacts)? in
            guard let f = FileFacts(path: name), f.identity != left.identity, f.identity != live?.identity, f.modified > modified, !isCompressed(name) else { return nil }
            return (name, f)
        }.sorted { $0.1.modified < $1.1.modified }
        if let (name, _) = newer.first { return try OpenLog(name: name, offset: 0, line: 0) }
        guard let live, live.identity != left.identity else { return nil }
        return try openLive()
    }

    /// Whether the path now names another file than `log` (or none).
    private func isDetached(_ log: OpenLog) -> Bool {
        FileFacts(path: path)?.identity != log.identity
    }

    /// Other files of the log's folder whose names start with the log's name; with
    /// `rotatedOnly`, only rotation names (`access.log.0`, `access.log-20260101`).
    private func siblings(rotatedOnly: Bool = false) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            guard name != baseName, name.hasPrefix(baseName) else { return false }
            guard rotatedOnly else { return true }
            let suffix = name.dropFirst(baseName.count)
            guard let first = suffix.first, first == "." || first == "-" || first == "_", suffix.count > 1 else { return false }
            return suffix.dropFirst().allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
        }.sorted().map { directory + "/" + $0 }
    }

    private func isCompressed(_ name: String) -> Bool {
        guard let log = try? OpenLog(name: name, offset: 0, line: 0) else { return true }
        var magic: [UInt8] = [0, 0]
        return pread(log.fd, &magic, 2, 0) == 2 && magic == [0x1F, 0x8B]
    }

    /// Handles a current file that shrank below the position or whose first bytes changed.
    private func checkTruncation(_ log: OpenLog) throws {
        guard let facts = FileFacts(fd: log.fd) else { return }
        guard facts.size < log.offset || !log.headMatches(length: log.headLength, hash: log.headHash) else { return }
        let before = TailPosition(file: log.identity, offset: log.offset, line: log.line, headLength: log.headLength, headHash: log.headHash)
        logger.warning("log truncated or replaced (copy-truncate?)", metadata: ["tail.file": "\(log.name)", "tail.offset": "\(log.offset)", "tail.size": "\(facts.size)"])
        idle = nil
        if log.offset > 0, let copy = try locate(before, excluding: log.identity) {
            current = copy
        } else {
            log.offset = 0
            log.line = 0
            log.headLength = 0
            log.headHash = TailPosition.fingerprint(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    private func newlines(_ buffer: [UInt8], _ count: Int) -> Int {
        buffer.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return 0 }
            var n = 0
            var p = 0
            while p < count, let hit = memchr(base + p, 10, count - p) {
                n += 1
                p = base.distance(to: UnsafeRawPointer(hit)) + 1
            }
            return n
        }
    }
}

/// An open log file and the follower's place in it.
final class OpenLog {
    let fd: Int32
    let identity: FileIdentity
    let name: String
    var offset: Int64
    var line: Int64
    var headLength = 0
    var headHash = TailPosition.fingerprint(UnsafeRawBufferPointer(start: nil, count: 0))

    /// Nil when no file is at `name`.
    init?(name: String, offset: Int64, line: Int64) throws {
        let fd = open(name, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw IngestError("cannot open \(name): \(String(cString: strerror(errno)))")
        }
        guard let facts = FileFacts(fd: fd) else {
            _ = close(fd)
            return nil
        }
        self.fd = fd
        self.identity = facts.identity
        self.name = name
        self.offset = offset
        self.line = line
    }

    deinit { _ = close(fd) }

    /// Whether the first `length` bytes hash to `hash`.
    func headMatches(length: Int, hash: UInt64) -> Bool {
        guard length > 0 else { return true }
        var bytes = [UInt8](repeating: 0, count: length)
        guard pread(fd, &bytes, length, 0) == length else { return false }
        return bytes.withUnsafeBytes { TailPosition.fingerprint($0) } == hash
    }

    /// Extends the fingerprint of the first bytes while the offset passes them.
    func updateHead() {
        guard headLength < TailPosition.headMax, offset > Int64(headLength) else { return }
        let length = Int(min(offset, Int64(TailPosition.headMax)))
        var bytes = [UInt8](repeating: 0, count: length)
        guard pread(fd, &bytes, length, 0) == length else { return }
        headLength = length
        headHash = bytes.withUnsafeBytes { TailPosition.fingerprint($0) }
    }
}

/// What `stat` says about a file.
struct FileFacts {
    var identity: FileIdentity
    var size: Int64
    /// Last modification, nanoseconds since the epoch.
    var modified: Int64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    init?(fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        self.init(st)
    }

    private init(_ st: stat) {
        identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        size = Int64(st.st_size)
        #if os(Linux)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #else
        modified = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #endif
    }
}
