import Foundation
import TallyCore
import TallyStore

/// Turns Squid access-log lines into usage of one product, shared by `tally ingest` and the
/// log follower.
///
/// A line's user name is looked up as an account `username`; lines of unknown users go to
/// `ingest.unassigned_account` when it is set and are rejected otherwise. Denied lines (see
/// ``SquidRecord/isDenied(resultCode:status:)``) are counted and never become usage.
///
/// The product's dimensions are filled by name: `hostname` (or `host`), `port`, `status`,
/// `method`, `result_code` and `username` (the name Squid logged, `-` for none); any other
/// dimension stays empty. Metrics by name: `bytes` (both directions: `%<st` plus `%>st` when the
/// format logs it), `bytes_to_client`, `bytes_from_client`, `requests` (1 a line); others stay 0.
public struct SquidMeter: Sendable {
    public let format: SquidLogFormat
    public let product: ProductSpec
    /// Account ids by index; a cell names its account by index so keys stay small.
    private(set) var accountIDs: [String]
    private(set) var accountIndex: [String: Int32]
    private(set) var directory: AccountDirectory
    /// `ingest.unassigned_account` by id, as configured.
    let unassignedID: String?
    private(set) var unassigned: Int32?
    let maxFuture: Int64
    let dimensionSources: [SquidField]
    let metricSources: [(value: SquidValue, factor: Int64)]
    /// Which record fields some dimension uses; the others are left out of cell keys.
    let usesHost: Bool, usesPort: Bool, usesStatus: Bool, usesMethod: Bool, usesResultCode: Bool, usesUser: Bool

    /// Longest host name kept when a dimension shows it (a DNS name has at most 253 bytes).
    public static let maxHostBytes = 256

    /// Fails when the product has none of the metrics a Squid line can fill.
    public init(format: SquidLogFormat, product: ProductSpec, accounts: AccountDirectory,
                unassignedAccount: String?, maxFuture: Int64) throws(IngestError) {
        self.format = format
        self.product = product
        directory = accounts
        accountIDs = []
        accountIndex = [:]
        unassignedID = unassignedAccount
        self.maxFuture = maxFuture
        dimensionSources = product.dimensions.map(SquidField.init(dimension:))
        usesHost = dimensionSources.contains(.host)
        usesPort = dimensionSources.contains(.port)
        usesStatus = dimensionSources.contains(.status)
        usesMethod = dimensionSources.contains(.method)
        usesResultCode = dimensionSources.contains(.resultCode)
        usesUser = dimensionSources.contains(.user)
        var metrics: [(SquidValue, Int64)] = []
        for m in product.metrics {
            var factor: Int64 = 1
            for _ in 0..<m.kind.scale {
                let (f, o) = factor.multipliedReportingOverflow(by: 10)
                if o { throw IngestError("metric \(m.name) of \(product.name): scale \(m.kind.scale) is too large") }
                factor = f
            }
            metrics.append((SquidValue(metric: m.name), factor))
        }
        metricSources = metrics
        if !metrics.contains(where: { $0.0 != .none }) {
            throw IngestError("product \(product.name) has none of the metrics Squid lines fill (bytes, bytes_to_client, bytes_from_client, requests)")
        }
        try index(accounts)
    }

    /// The same meter resolving user names in `accounts` (the account tree changes at run
    /// time); fails when the unassigned account is not in it.
    ///
    /// Cells name accounts by index into the meter's tree, so a tally is turned into events by
    /// the meter that filled it.
    public func using(accounts: AccountDirectory) throws(IngestError) -> SquidMeter {
        var m = self
        try m.index(accounts)
        return m
    }

    private mutating func index(_ accounts: AccountDirectory) throws(IngestError) {
        var ids: [String] = []
        var index: [String: Int32] = [:]
        ids.reserveCapacity(accounts.accounts.count)
        for a in accounts.accounts {
            index[a.id] = Int32(ids.count)
            ids.append(a.id)
        }
        let u = unassignedID.flatMap { index[$0] }
        if let id = unassignedID, u == nil { throw IngestError("ingest.unassigned_account: no account has id \"\(id)\"") }
        directory = accounts
        accountIDs = ids
        accountIndex = index
        unassigned = u
    }

    /// A meter for `product` of a configuration (`ingest.unassigned_account`,
    /// `ingest.max_future`, and its accounts unless `accounts` gives the tree with run-time
    /// changes), reading `logformat` (Squid's `%` codes; nil: the native format).
    public init(config: TallyConfig, product: String, logformat: String?, accounts: AccountDirectory? = nil) throws(IngestError) {
        guard let spec = config.products[product] else {
            throw IngestError("unknown product \"\(product)\" (expected one of: \(config.products.names.joined(separator: ", ")))")
        }
        var format = SquidLogFormat.native
        if let logformat {
            do {
                format = try SquidLogFormat(logformat: logformat)
            } catch {
                throw IngestError("logformat: \(error.message)")
            }
        }
        try self.init(format: format, product: spec, accounts: accounts ?? config.accounts,
                      unassignedAccount: config.ingest.unassignedAccount, maxFuture: config.ingest.maxFuture)
    }

    /// Meters every complete line of `buffer` into `tally`.
    ///
    /// Each line must end with `\n`, except that a last line without one is metered too when
    /// `buffer` does not end with `\n` (callers hand over only complete lines). Line numbers in
    /// problems count from `firstLine`; offsets from `firstOffset`.
    public func meter(_ buffer: UnsafeRawBufferPointer, into tally: inout SquidTally, firstLine: Int64, firstOffset: Int64, now: Int64) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        var start = 0
        var line = firstLine
        while start < count {
            let end = memchr(base + start, 10, count - start).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
            meter(line: UnsafeRawBufferPointer(rebasing: buffer[start..<end]), number: line, offset: firstOffset + Int64(start), into: &tally, now: now)
            start = end + 1
            line += 1
        }
    }

    /// Meters one line (without its newline).
    ///
    /// The host, method and result code are looked up by their bytes in the line (the host
    /// lower-cased on the stack): a String is made per distinct value, when the cells become events.
    public func meter(line: UnsafeRawBufferPointer, number: Int64, offset: Int64, into tally: inout SquidTally, now: Int64) {
        tally.lines += 1
        let record: SquidFields
        switch format.fields(line) {
        case .failure(let failure):
            tally.malformed(failure.reason, line: number, offset: offset)
            return
        case .success(let r): record = r
        }
        if record.denied {
            tally.denied += 1
            return
        }
        let seconds = floorDiv(record.time, 1000)
        if seconds > now + maxFuture {
            tally.rejected += 1
            tally.note(SquidProblem(line: number, offset: offset, reason: "time \(seconds) is too far in the future"))
            return
        }
        let hostBytes = record.host.end - record.host.start
        if usesHost, hostBytes > Self.maxHostBytes {
            tally.malformed("host longer than \(Self.maxHostBytes) bytes", line: number, offset: offset)
            return
        }
        var account = tally.userCache[record.user ?? "-"] ?? -2
        if account == -2 {
            account = record.user.flatMap { directory.resolve($0, as: .username) }.flatMap { accountIndex[$0.id] } ?? -1
            if tally.userCache.count < SquidTally.maxCachedUsers { tally.userCache[record.user ?? "-"] = account }
        }
        if account < 0 {
            tally.noteUnknown(record.user ?? "-")
            guard let unassigned else {
                tally.rejected += 1
                return
            }
            account = unassigned
            tally.unassigned += 1
        }
        var key = SquidCellKey(account: account, quarter: floorDiv(seconds, 900) * 900)
        if usesHost {
            key.host = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maxHostBytes) { buffer in
                SquidLogFormat.lowercase(line, record.host.start, record.host.end, into: buffer)
                return tally.cellTable.strings.intern(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<hostBytes]))
            }
        }
        if usesPort { key.port = Int32(truncatingIfNeeded: record.port) }
        if usesStatus { key.status = Int32(truncatingIfNeeded: record.status) }
        if usesMethod { key.method = tally.cellTable.strings.intern(Self.bytes(line, record.method)) }
        if usesResultCode { key.resultCode = tally.cellTable.strings.intern(Self.bytes(line, record.resultCode)) }
        if usesUser { key.user = tally.intern(record.user ?? "-") }
        let sums = SquidSums(toClient: record.bytesToClient, fromClient: record.bytesFromClient, requests: 1)
        guard tally.cellTable.cells[key, default: SquidSums()].add(sums) else {
            tally.malformed("byte count out of range", line: number, offset: offset)
            return
        }
        tally.accepted += 1
    }

    /// The bytes of `span` in `line`, none when the span is unset.
    private static func bytes(_ line: UnsafeRawBufferPointer, _ span: SquidSpan) -> UnsafeRawBufferPointer {
        span.isSet ? UnsafeRawBufferPointer(rebasing: line[span.start..<span.end]) : UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// The usage events of a tally's cells in columns, one per cell, timed at the cell's quarter hour.
    ///
    /// Each distinct string is interned once and each cell appended by series number, without
    /// making a `UsageEvent` (a String per value) per cell.
    public func columns(_ tally: SquidTally) throws(StoreError) -> EventColumns {
        try columns(tally.cellTable)
    }

    /// The event columns of cells taken out of a tally (`SquidTally.takeCells`).
    func columns(_ table: SquidCells) throws(StoreError) -> EventColumns {
        var out = EventColumns(metricStride: max(1, metricSources.count))
        guard !table.cells.isEmpty else { return out }
        let productNumber = out.intern(product.name)
        let empty = out.intern("")
        var accounts = [Int32](repeating: -1, count: accountIDs.count)
        var strings = [Int32](repeating: -1, count: table.strings.count)
        var numbers: [Int32: Int32] = [:]
        var metrics = [Int64](repeating: 0, count: metricSources.count)
        let metricCount = metricSources.count
        for (key, sums) in table.cells {
            var s = EventColumns.Series(repeating: -1)
            let a = Int(key.account)
            if accounts[a] < 0 { accounts[a] = out.intern(accountIDs[a]) }
            s[0] = accounts[a]
            s[1] = productNumber
            for (lane, field) in dimensionSources.enumerated() {
                let text: Int32
                switch field {
                case .host: text = key.host
                case .method: text = key.method
                case .resultCode: text = key.resultCode
                case .user: text = key.user
                case .port, .status:
                    let n = field == .port ? key.port : key.status
                    if let v = numbers[n] {
                        s[2 + lane] = v
                    } else {
                        let v = out.intern(String(n))
                        numbers[n] = v
                        s[2 + lane] = v
                    }
                    continue
                case .none:
                    s[2 + lane] = empty
                    continue
                }
                let t = Int(text)
                if strings[t] < 0 { strings[t] = out.intern(table.strings.string(text)) }
                s[2 + lane] = strings[t]
            }
            for (i, (source, factor)) in metricSources.enumerated() {
                let (v, o) = sums.value(source).multipliedReportingOverflow(by: factor)
                guard !o, v >= 0 else { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
                metrics[i] = v
            }
            let series = out.seriesNumber(s, metricCount: metricCount)
            metrics.withUnsafeBufferPointer { out.append(series: series, time: key.quarter, metrics: $0, source: nil, id: nil) }
        }
        return out
    }
}

/// A record field a dimension can show.
enum SquidField: Hashable, Sendable {
    case host, port, status, method, resultCode, user, none

    init(dimension name: String) {
        switch name {
        case "hostname", "host": self = .host
        case "port": self = .port
        case "status": self = .status
        case "method": self = .method
        case "result_code": self = .resultCode
        case "username": self = .user
        default: self = .none
        }
    }
}

/// A value a metric can sum.
enum SquidValue: Sendable, Equatable {
    case bytes, toClient, fromClient, requests, none

    init(metric name: String) {
        switch name {
        case "bytes": self = .bytes
        case "bytes_to_client": self = .toClient
        case "bytes_from_client": self = .fromClient
        case "requests": self = .requests
        default: self = .none
        }
    }
}

/// One 15-minute cell of one account; text fields are numbers in the tally's `strings`, and
/// fields no dimension uses stay -1 (0 for numbers).
///
/// Plain numbers only, so hashing, comparing and moving a key never touch a String.
struct SquidCellKey: Hashable, Sendable {
    var account: Int32
    var port: Int32 = 0
    var status: Int32 = 0
    var host: Int32 = -1
    var method: Int32 = -1
    var resultCode: Int32 = -1
    var user: Int32 = -1
    var quarter: Int64

    init(account: Int32, quarter: Int64) {
        self.account = account
        self.quarter = quarter
    }

    /// The key in four words.
    private var words: (UInt64, UInt64, UInt64, UInt64) {
        (UInt64(UInt32(bitPattern: account)) << 32 | UInt64(UInt32(bitPattern: port)),
         UInt64(UInt32(bitPattern: host)) << 32 | UInt64(UInt32(bitPattern: status)),
         UInt64(UInt32(bitPattern: method)) << 32 | UInt64(UInt32(bitPattern: resultCode)),
         UInt64(bitPattern: quarter) ^ UInt64(UInt32(bitPattern: user)) << 40)
    }

    func hash(into h: inout Hasher) {
        let w = words
        h.combine(w.0)
        h.combine(w.1)
        h.combine(w.2)
        h.combine(w.3)
    }

    /// A multiply-xorshift hash of the four words, which dictionaries use instead of SipHash:
    /// folding a line into its cell is mostly this hash. Keys are small numbers the tally
    /// assigns and the seed is random per process, so log contents cannot aim at collisions.
    func _rawHashValue(seed: Int) -> Int {
        let w = words
        var h = QuickHash.mix(QuickHash.seed ^ UInt64(UInt(bitPattern: seed)), w.0)
        h = QuickHash.mix(h, w.1)
        h = QuickHash.mix(h, w.2)
        h = QuickHash.mix(h, w.3)
        return Int(truncatingIfNeeded: QuickHash.finish(h))
    }

    /// The key with its text numbers renumbered through `map` (another tally's numbers).
    func renumbered(_ map: [Int32]) -> SquidCellKey {
        var k = self
        if host >= 0 { k.host = map[Int(host)] }
        if method >= 0 { k.method = map[Int(method)] }
        if resultCode >= 0 { k.resultCode = map[Int(resultCode)] }
        if user >= 0 { k.user = map[Int(user)] }
        return k
    }
}

/// Usage cells and the distinct strings their keys name.
struct SquidCells: Sendable {
    var cells: [SquidCellKey: SquidSums] = [:]
    var strings = ByteStringTable()

    /// The number of `s` in `strings`, adding it when new.
    mutating func intern(_ s: String) -> Int32 { strings.intern(s) }

    /// Adds the cells of `other`; fails when a sum would leave the 64-bit range.
    mutating func merge(_ other: SquidCells) throws(StoreError) {
        if cells.isEmpty {
            self = other
            return
        }
        let map = strings.intern(contentsOf: other.strings)
        cells.reserveCapacity(cells.count + other.cells.count / 2)
        for (key, sums) in other.cells {
            guard cells[key.renumbered(map), default: SquidSums()].add(sums) else {
                throw StoreError(.overflow, "a metric sum exceeds the 64-bit range")
            }
        }
    }
}

/// Exact sums of one cell.
struct SquidSums: Sendable, Equatable {
    var toClient: Int64 = 0
    var fromClient: Int64 = 0
    var requests: Int64 = 0

    /// Adds `other` unless a sum (or both byte counts together) would leave the 64-bit range.
    mutating func add(_ other: SquidSums) -> Bool {
        let (t, o1) = toClient.addingReportingOverflow(other.toClient)
        let (f, o2) = fromClient.addingReportingOverflow(other.fromClient)
        let (r, o3) = requests.addingReportingOverflow(other.requests)
        let (_, o4) = t.addingReportingOverflow(f)
        guard !(o1 || o2 || o3 || o4) else { return false }
        toClient = t
        fromClient = f
        requests = r
        return true
    }

    func value(_ v: SquidValue) -> Int64 {
        switch v {
        case .bytes: toClient + fromClient
        case .toClient: toClient
        case .fromClient: fromClient
        case .requests: requests
        case .none: 0
        }
    }
}

/// A line that was not metered, and why.
public struct SquidProblem: Sendable, Equatable {
    /// The line number in its file, counting from 1.
    public var line: Int64
    /// The byte offset of the line's start.
    public var offset: Int64
    public var reason: String
}

/// What metering lines produced: usage cells and the count of every kind of line.
///
/// `lines == accepted + denied + rejected + malformed`; `unassigned` lines are among `accepted`.
public struct SquidTally: Sendable {
    public var lines = 0
    /// Lines counted as usage (including those of the unassigned account).
    public var accepted = 0
    /// Lines of unknown users that went to `ingest.unassigned_account`.
    public var unassigned = 0
    /// Lines never billed: denied, unauthenticated, never forwarded.
    public var denied = 0
    /// Lines of unknown users with no unassigned account, and lines too far in the future.
    public var rejected = 0
    public var malformed = 0
    /// The first problems (malformed and rejected lines), at most `maxProblems`.
    public var problems: [SquidProblem] = []
    /// Lines per unknown user name (at most `maxUnknownUsers` names; the rest in `otherUnknown`).
    public var unknownUsers: [String: Int] = [:]
    public var otherUnknown = 0
    /// Usage cells waiting to be committed.
    var cellTable = SquidCells()
    /// Account index by user name (-1: unknown), local to one worker.
    var userCache: [String: Int32] = [:]

    public static let maxProblems = 100
    public static let maxUnknownUsers = 100
    static let maxCachedUsers = 100_000

    public init() {}

    /// How many usage cells are waiting to be committed.
    public var cellCount: Int { cellTable.cells.count }
    /// Whether there is nothing to commit and nothing counted.
    public var isEmpty: Bool { lines == 0 }

    mutating func malformed(_ reason: String, line: Int64, offset: Int64) {
        malformed += 1
        note(SquidProblem(line: line, offset: offset, reason: reason))
    }

    mutating func note(_ p: SquidProblem) {
        if problems.count < Self.maxProblems { problems.append(p) }
    }

    mutating func noteUnknown(_ user: String) {
        if unknownUsers[user] != nil || unknownUsers.count < Self.maxUnknownUsers {
            unknownUsers[user, default: 0] += 1
        } else {
            otherUnknown += 1
        }
    }

    /// Adds the counts and cells of a tally of later lines; line numbers of its problems are
    /// shifted by `lineOffset` (workers count from 1 in their own chunk).
    public mutating func merge(_ other: SquidTally, lineOffset: Int64 = 0) throws(StoreError) {
        lines += other.lines
        accepted += other.accepted
        unassigned += other.unassigned
        denied += other.denied
        rejected += other.rejected
        malformed += other.malformed
        for var p in other.problems where problems.count < Self.maxProblems {
            p.line += lineOffset
            problems.append(p)
        }
        for (user, n) in other.unknownUsers {
            if unknownUsers[user] != nil || unknownUsers.count < Self.maxUnknownUsers {
                unknownUsers[user, default: 0] += n
            } else {
                otherUnknown += n
            }
        }
        otherUnknown += other.otherUnknown
        try cellTable.merge(other.cellTable)
    }

    /// Forgets the cells (once committed); counts and problems stay.
    public mutating func clearCells() { cellTable = SquidCells() }

    /// Hands over the cells (to be committed) and forgets them.
    mutating func takeCells() -> SquidCells {
        defer { cellTable = SquidCells() }
        return cellTable
    }

    mutating func intern(_ s: String) -> Int32 { cellTable.intern(s) }

    /// The counts as one phrase, e.g. `10 lines, 7 accepted (1 unassigned), 1 denied, 1 rejected, 1 malformed`.
    public var summary: String {
        "\(lines) lines, \(accepted) accepted (\(unassigned) unassigned), \(denied) denied, \(rejected) rejected, \(malformed) malformed"
    }

    /// Unknown user names with their line counts, most frequent first, e.g. `carol (12), - (3)`.
    public var unknownUserList: String {
        var parts = unknownUsers.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) (\($0.value))" }
        if otherUnknown > 0 { parts.append("others (\(otherUnknown))") }
        return parts.joined(separator: ", ")
    }
}
