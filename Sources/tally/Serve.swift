import ArgumentParser
import Foundation
import Hummingbird
import TallyCore
import TallyServer
import TallyStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Serve a demo account tree with about 30 days of synthetic usage (a fresh store under tally-data/).")
    var demo = false

    @Option(help: "Override server.port.")
    var port: Int?

    @Option(help: "Override server.host.")
    var host: String?

    func run() async throws {
        let logger = common.logger("tally")
        var config = try demo && common.config == nil ? Demo.config() : common.load()
        if let port { config.server.port = port }
        if let host { config.server.host = host }
        let store = try await TallyRuntime.openStore(config, logger: logger)
        let accounts = try await TallyRuntime.openAccounts(config, logger: logger)
        let runtime = TallyRuntime(config: config, store: store, accounts: accounts, logger: logger)
        if demo { try await Demo.load(into: runtime) }
        let app = buildApplication(runtime: runtime, extraServices: try TailService.services(runtime: runtime))
        if demo { Demo.printWelcome(config) }
        try await app.runService()
    }
}
