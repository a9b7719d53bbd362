import Foundation
import Logging
import TallyCore
import TallyStore

/// A private folder for one test's database files, deleted when the test lets go of it.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("tally-sqlite-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path for a new database file in this folder.
    func database(_ name: String = UUID().uuidString) -> String { path + "/" + name + ".sqlite" }
}

extension Logger {
    /// Stores log backend failures at error level; the tests that provoke them stay quiet.
    static let quiet = Logger(label: "tally.tests.sqlite", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// 2026-01-01T00:00:00Z.
let t0: Int64 = 1_767_225_600
let day: Int64 = 86_400

func apiEvent(_ time: Int64, account: String = "acme", dims: [String] = ["eu", "GET"], _ metrics: [Int64], id: String? = nil) -> UsageEvent {
    UsageEvent(id: id, source: id == nil ? nil : "test", time: time, account: account, product: "api", dimensions: dims, metrics: metrics)
}

func dayQuery(_ accounts: [String] = ["acme"], groupBy: [Int] = [], byAccount: Bool = false) -> StoreQuery {
    StoreQuery(accounts: accounts, product: "api", tier: .day, from: t0 - day, to: t0 + 2 * day, groupByAccount: byAccount, groupBy: groupBy)
}
