import Foundation
import Logging
import TallyCore
import TallySQLite
import TallyStore

@testable import TallyIngest

/// A private folder for one test's logs and database, deleted when the test lets go of it.
final class SquidScratch: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("tally-squid-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Appends bytes to a file, creating it when missing.
    func append(_ name: String, _ text: String) throws {
        try append(name, Array(text.utf8))
    }

    func append(_ name: String, _ bytes: [UInt8]) throws {
        let p = file(name)
        if !FileManager.default.fileExists(atPath: p) { _ = FileManager.default.createFile(atPath: p, contents: nil) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        try h.seekToEnd()
        try h.write(contentsOf: Data(bytes))
        try h.close()
    }

    func rename(_ from: String, _ to: String) throws {
        guard Foundation.rename(file(from), file(to)) == 0 else { throw IngestError("rename failed") }
    }

    func truncate(_ name: String) throws {
        guard Foundation.truncate(file(name), 0) == 0 else { throw IngestError("truncate failed") }
    }

    func copy(_ from: String, _ to: String) throws {
        try FileManager.default.copyItem(atPath: file(from), toPath: file(to))
    }

    /// Sets a file's modification time (rotations seconds apart, as in production).
    func touch(_ name: String, secondsAgo: Int) throws {
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-Double(secondsAgo))], ofItemAtPath: file(name))
    }
}

enum SquidFixture {
    static let quiet = Logger(label: "tally.tests.squid", factory: { _ in SwiftLogNoOpLogHandler() })
    /// 2026-01-01T00:00:00Z.
    static let t0: Int64 = 1_767_225_600
    static let fixedNow: Int64 = 1_800_000_000

    static let product = ProductSpec(
        name: "residential", dimensions: ["hostname", "port", "country", "status"],
        metrics: [MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "requests", kind: .integer)])

    /// alice and bob (by username), a parent reseller, and a catch-all account.
    static func config(unassigned: Bool) -> TallyConfig {
        var c = TallyConfig(products: ProductCatalog([product]), accounts: [
            Account(id: "reseller", username: "reseller"),
            Account(id: "acct-alice", username: "alice", parentID: "reseller"),
            Account(id: "acct-bob", username: "bob", parentID: "reseller"),
            Account(id: "unassigned"),
        ])
        if unassigned { c.ingest.unassignedAccount = "unassigned" }
        return c
    }

    static func meter(unassigned: Bool = true, logformat: String? = nil) throws -> SquidMeter {
        try SquidMeter(config: config(unassigned: unassigned), product: "residential", logformat: logformat)
    }

    static func store(_ scratch: SquidScratch, name: String = "tally") async throws -> SQLiteUsageStore {
        let s = try SQLiteUsageStore(path: scratch.file(name + ".sqlite"), logger: quiet)
        try await s.prepare(products: ProductCatalog([product]))
        return s
    }

    /// A native Squid line.
    static func line(second: Int64, user: String, host: String, bytes: Int64, result: String = "TCP_MISS/200", connect: Bool = false) -> String {
        let stamp = "\(t0 + second).\(String(format: "%03d", Int(second % 1000)))"
        let request = connect ? "CONNECT \(host):443" : "GET http://\(host)/x"
        return "\(stamp)     12 127.0.0.1 \(result) \(bytes) \(request) \(user) HIER_DIRECT/10.0.0.1 text/html\n"
    }

    /// Usage per "account|host": (bytes, requests), summed over every bucket.
    static func totals(_ store: any UsageStore) async throws -> [String: [Int64]] {
        let rows = try await store.aggregate(StoreQuery(
            accounts: ["reseller", "acct-alice", "acct-bob", "unassigned"], product: "residential", tier: .day,
            from: t0 - 86_400, to: t0 + 400 * 86_400, groupByAccount: true, groupBy: [0]))
        var out: [String: [Int64]] = [:]
        for r in rows {
            let key = "\(r.account ?? "?")|\(r.groups[0])"
            out[key] = zip(out[key] ?? [0, 0], r.metrics).map { $0 + $1 }
        }
        return out
    }
}

/// What a log should amount to: the generator's own record of each line, no decoder involved.
struct SquidOracle: Equatable {
    var usage: [String: [Int64]] = [:]
    var lines = 0
    var denied = 0
    var malformed = 0
    var rejected = 0

    static let accountOfUser = ["alice": "acct-alice", "bob": "acct-bob"]

    mutating func valid(user: String, host: String, bytes: Int64, denied isDenied: Bool, unassigned: Bool) {
        lines += 1
        if isDenied {
            denied += 1
            return
        }
        guard let account = Self.accountOfUser[user] ?? (unassigned ? "unassigned" : nil) else {
            rejected += 1
            return
        }
        let key = "\(account)|\(host)"
        usage[key] = zip(usage[key] ?? [0, 0], [bytes, 1]).map { $0 + $1 }
    }

    mutating func garbled() {
        lines += 1
        malformed += 1
    }
}
