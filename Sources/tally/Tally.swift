import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TallyCore
import TallyIngest
import TallyReports
import TallyServer
import TallyStore

@main
struct Tally: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "Exact usage metering: ingest usage, keep exact aggregates, serve reports.",
        subcommands: [Serve.self, Ingest.self, Tail.self, Report.self, Accounts.self, Generate.self]
    )
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The YAML configuration file.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func logger(_ label: String) -> Logger {
        var l = Logger(label: label)
        l.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return l
    }

    func load() throws -> TallyConfig {
        guard let config else { throw ValidationError("--config FILE is required (or use `tally serve --demo`)") }
        do {
            return try ConfigLoader.load(path: config)
        } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
    }
}

func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
