import Foundation
import Logging
import TallyCore
import TallyStore

/// Follows a live Squid access log into a store, exactly once.
///
/// Every commit carries the follower's position (file identity, offset after the last complete
/// line) as the checkpoint of the same transaction as the usage of the lines before it, so a
/// restart, even after SIGKILL, resumes exactly after the last committed line: nothing is
/// counted twice and nothing is skipped. Commits happen every `flushInterval` or `maxLines`.
///
/// Not thread-safe: one task owns a tailer (`run()` or `poll()`/`flush()`).
public final class SquidTailer {
    public let follower: LogFollower
    public private(set) var meter: SquidMeter
    /// The live account tree, when accounts change while the tailer runs (`tally serve`): read
    /// again at the start of every batch, so an account created at run time is metered from its
    /// next commit on, without a restart.
    public var accounts: (@Sendable () -> AccountDirectory)?
    public let store: any UsageStore
    /// The checkpoint's reader name: `squid:` and the log's absolute path.
    public let reader: String
    let logger: Logger
    let now: @Sendable () -> Int64
    /// Longest time between reading a line and committing it.
    public var flushInterval: Duration = .seconds(1)
    /// Most lines in one commit.
    public var maxLines = 200_000
    /// Pause when the log has nothing new.
    public var pollInterval: Duration = .milliseconds(200)
    /// Counts of every committed line so far (no cells).
    public private(set) var totals = SquidTally()
    /// The position of the last commit.
    public private(set) var committed: TailPosition?
    private var pending = SquidTally()
    private var pendingSince: ContinuousClock.Instant?
    private var loggedUsers: Set<String> = []

    /// The checkpoint reader name of a log path (absolute, so `tally tail` and `tally serve`
    /// share it).
    public static func readerName(path: String) -> String {
        "squid:" + URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// A tailer resuming from the store's checkpoint for `path`.
    public static func resuming(path: String, meter: SquidMeter, store: any UsageStore, logger: Logger,
                                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) async throws -> SquidTailer {
        let reader = readerName(path: path)
        var position: TailPosition?
        if let text = try await store.checkpoint(reader: reader) {
            guard let p = TailPosition(text) else { throw IngestError("checkpoint of \(reader) is not a log position: \(text.prefix(80))") }
            position = p
        }
        return SquidTailer(path: path, position: position, meter: meter, store: store, logger: logger, now: now)
    }

    init(path: String, position: TailPosition?, meter: SquidMeter, store: any UsageStore, logger: Logger, now: @escaping @Sendable () -> Int64) {
        var l = logger
        l[metadataKey: "tail.path"] = "\(path)"
        follower = LogFollower(path: path, resumeFrom: position, logger: l)
        self.meter = meter
        self.store = store
        self.reader = Self.readerName(path: path)
        self.logger = l
        self.now = now
        committed = position
    }

    /// Commits the position of a log followed for the first time before reading any of it, so
    /// from then on a rotation while the tailer is down loses nothing.
    public func claim() async throws {
        guard committed == nil else { return }
        try follower.open()
        if follower.position != nil { try await flush() }
    }

    /// Reads what the log holds now (up to `maxLines` pending); returns the number of lines read.
    @discardableResult
    public func poll() throws -> Int {
        var read = 0
        let t = now()
        while pending.lines < maxLines, let piece = try follower.read() {
            if pending.isEmpty { refreshAccounts() }
            if pendingSince == nil { pendingSince = .now }
            let before = pending.lines
            if piece.unterminated {
                pending.lines += 1
                pending.malformed("unterminated last line of a rotated log (\(piece.bytes.count) bytes)", line: piece.firstLine, offset: piece.offset)
                report(pending.problems.last, file: piece.file)
            } else {
                let problems = pending.problems.count
                piece.bytes.withUnsafeBytes { meter.meter($0, into: &pending, firstLine: piece.firstLine, firstOffset: piece.offset, now: t) }
                for p in pending.problems[problems...] { report(p, file: piece.file) }
            }
            read += pending.lines - before
        }
        return read
    }

    /// Whether pending lines are due for a commit.
    public var isDue: Bool {
        if pending.lines >= maxLines { return true }
        guard let since = pendingSince else { return follower.position != committed }
        return ContinuousClock.now - since >= flushInterval
    }

    /// Commits the usage of the lines read since the last commit with the position after them.
    public func flush() async throws {
        let position = follower.position
        guard !pending.isEmpty || position != committed else { return }
        let columns = try meter.columns(pending)
        let checkpoint = position.map { Checkpoint(reader: reader, position: $0.description) }
        _ = try await store.commit(IngestBatch(columns: columns, checkpoint: checkpoint, receivedAt: now()), dedupWindow: 0)
        committed = position
        for user in pending.unknownUsers.keys where !loggedUsers.contains(user) && loggedUsers.count < 1000 {
            loggedUsers.insert(user)
            logger.warning(meter.unassigned == nil ? "lines of an unknown user are rejected (no ingest.unassigned_account)" : "lines of an unknown user go to the unassigned account",
                           metadata: ["squid.user": "\(user)"])
        }
        if pending.lines > 0 {
            logger.debug("committed", metadata: ["tail.lines": "\(pending.lines)", "tail.cells": "\(columns.count)", "tail.position": "\(position.map(\.description) ?? "-")"])
        }
        pending.clearCells()
        try totals.merge(pending)
        let cache = pending.userCache
        pending = SquidTally()
        pending.userCache = cache
        pendingSince = nil
    }

    /// Follows the log until the task is cancelled, then reads what is there (up to `maxLines`),
    /// commits it and returns.
    ///
    /// Read and store errors are logged and retried (the pending lines stay pending).
    public func run() async {
        logger.info("following log", metadata: ["tail.reader": "\(reader)"])
        while !Task.isCancelled {
            var idle = false
            do {
                try await claim()
                idle = try poll() == 0
                if isDue { try await flush() }
            } catch {
                logger.error("tail failed; retrying", metadata: ["tail.error": "\(error)"])
                idle = true
            }
            if idle { try? await Task.sleep(for: pollInterval) }
        }
        do {
            _ = try poll()  // what the log holds now, so a stop right after a write loses nothing
            try await flush()
            logger.info("stopped following log", metadata: ["tail.totals": "\(totals.summary)", "tail.position": "\(committed.map(\.description) ?? "-")"])
        } catch {
            logger.error("final commit failed; the lines since the last checkpoint will be read again", metadata: ["tail.error": "\(error)"])
        }
    }

    /// Takes the current account tree (only between batches: pending cells name accounts by
    /// index into the meter's tree); on failure the previous tree stays.
    private func refreshAccounts() {
        guard let accounts else { return }
        do {
            meter = try meter.using(accounts: accounts())
            pending.userCache = [:]
        } catch {
            logger.error("cannot use the current accounts; keeping the previous ones", metadata: ["tail.error": "\(error)"])
        }
    }

    private func report(_ p: SquidProblem?, file: String) {
        guard let p else { return }
        logger.warning("skipped line", metadata: ["tail.file": "\(file)", "tail.line": "\(p.line)", "tail.offset": "\(p.offset)", "tail.reason": "\(p.reason)"])
    }
}
