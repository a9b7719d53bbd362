import ArgumentParser
import Foundation
import TallyCore
import TallyIngest

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write seeded synthetic residential usage as native NDJSON (for loading and benchmarks).")

    @Option(help: "Sub-user account ids (comma-separated).") var accounts: String = "acme-sub1"
    @Option(help: "First day, YYYY-MM-DD (UTC).") var from: String = "2026-01-01"
    @Option(help: "Number of days.") var days: Int = 30
    @Option(help: "Events per account-hour (on average).") var perHour: Int = 100
    @Option(help: "Distinct hostnames.") var hosts: Int = 1000
    @Option(help: "Random seed.") var seed: UInt64 = 42

    func run() async throws {
        guard let start = CivilDate(iso: from) else { throw ValidationError("--from must be YYYY-MM-DD") }
        let gen = SyntheticUsage(seed: seed, hostCount: hosts)
        let t0 = start.dayNumber * 86400
        let out = FileHandle.standardOutput
        for day in 0..<days {
            let events = gen.residential(accounts: accounts.split(separator: ",").map(String.init), from: t0 + Int64(day) * 86400, to: t0 + Int64(day + 1) * 86400, perHour: perHour)
            var text = ""
            text.reserveCapacity(events.count * 220)
            for e in events {
                text += "{\"id\":\"d\(day)-\(e.id ?? "")\",\"source\":\"gen\",\"time\":\"\(RFC3339.format(e.time, offset: 0))\",\"account\":\"\(e.account)\",\"product\":\"residential\",\"dimensions\":{\"hostname\":\"\(e.dimensions[0])\",\"port\":\"\(e.dimensions[1])\",\"country\":\"\(e.dimensions[2])\",\"status\":\"\(e.dimensions[3])\"},\"metrics\":{\"bytes\":\(e.metrics[0]),\"requests\":\(e.metrics[1])}}\n"
            }
            out.write(Data(text.utf8))
        }
    }
}
