import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyCore
import TallyServer

/// `tally accounts ...`: manages accounts of a running server through its admin API, so every
/// change goes through one path (validated, stored, seen by every face at once) whatever the store.
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts and credentials of a running server (through /v1/admin).",
        subcommands: [List.self, Show.self, Create.self, Move.self, Disable.self, Enable.self, IssueToken.self, RevokeToken.self,
                      IssueKey.self, RevokeKey.self, SetPassword.self, SetAllowedIPs.self, HashPassword.self]
    )

    /// Where the admin API is and how to authenticate to it.
    struct AdminOptions: ParsableArguments {
        @OptionGroup var common: CommonOptions

        @Option(help: "The server's base URL (default: http://<server.host>:<server.port> from --config).")
        var url: String?

        @Option(help: "An admin token (default: env TALLY_ADMIN_TOKEN, else the first auth.admin_tokens of --config given in clear).")
        var adminToken: String?

        func target() throws -> (url: String, token: String) {
            let config = common.config == nil ? nil : try common.load()
            let env = ProcessInfo.processInfo.environment["TALLY_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            guard let token = adminToken ?? env ?? config?.auth.adminTokens.first(where: { !$0.hasPrefix("sha256:") }) else {
                throw ValidationError("no admin token: pass --admin-token, set TALLY_ADMIN_TOKEN, or give --config with auth.admin_tokens")
            }
            if let url { return (url.hasSuffix("/") ? String(url.dropLast()) : url, token) }
            guard let config else { throw ValidationError("pass --url or --config to say where the server is") }
            let host = config.server.host.contains(":") ? "[\(config.server.host)]" : config.server.host
            return ("http://\(host):\(config.server.port)", token)
        }

        /// Calls the admin API; a refusal becomes a clear error and exit status 1.
        func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue? {
            let (base, token) = try target()
            var request = HTTPClientRequest(url: base + "/v1/admin/" + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body.serialized))
            }
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                bytes = try await response.body.collect(upTo: 64 << 20)
            } catch {
                throw ValidationError("cannot reach \(base): \(error)")
            }
            let text = String(buffer: bytes)
            let json = try? JSONParser.parse(text)
            guard (200..<300).contains(response.status.code) else {
                var message = "\(response.status.code)"
                if case .string(let m)? = json?["error"]?["message"] { message += ": " + m }
                if case .array(let details)? = json?["error"]?["details"] {
                    for d in details { if case .string(let p)? = d["parameter"], case .string(let m)? = d["message"] { message += "\n  \(p): \(m)" } }
                }
                FileHandle.standardError.write(Data("tally accounts: \(message)\n".utf8))
                throw ExitCode(1)
            }
            return json
        }
    }

    static func show(_ account: JSONValue?) {
        print(account?.serialized ?? "")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every account (a table, or --json).")
        @OptionGroup var admin: AdminOptions
        @Flag(help: "Print the admin API's JSON.") var json = false

        func run() async throws {
            let answer = try await admin.call(.GET, "accounts")
            if json { return Accounts.show(answer) }
            guard case .array(let accounts)? = answer?["accounts"] else { return }
            func text(_ v: JSONValue?) -> String {
                switch v {
                case .string(let s)?: return s
                case .bool(let b)?: return b ? "yes" : "no"
                case .array(let a)?: return String(a.count)
                default: return "-"
                }
            }
            let columns = ["id", "parent", "username", "hash", "package_key", "active", "password", "tokens", "api_keys", "source"]
            let rows = [columns] + accounts.map { a in columns.map { text(a[$0]) } }
            let widths = columns.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
            for r in rows { print(r.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one account (JSON).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        func run() async throws { Accounts.show(try await admin.call(.GET, "accounts/\(Accounts.segment(id))")) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The new account's id.") var id: String
        @Option(help: "The parent account's id (default: top-level).") var parent: String?
        @Option(help: "A display name.") var name: String?
        @Option(help: "An IPRoyal-style hash.") var hash: String?
        @Option(help: "The proxy login / username.") var username: String?
        @Option(help: "A Proxy-Seller package key.") var packageKey: String?
        @Option(name: .customLong("allowed-ip"), help: "An allowed address or CIDR block for its API keys (repeatable).") var allowedIPs: [String] = []
        @Flag(help: "Read a password from standard input (first line).") var passwordStdin = false

        func run() async throws {
            var fields: [(String, JSONValue)] = [("id", .string(id))]
            for (k, v) in [("parent", parent), ("name", name), ("hash", hash), ("username", username), ("package_key", packageKey)] {
                if let v { fields.append((k, .string(v))) }
            }
            if !allowedIPs.isEmpty { fields.append(("allowed_ips", .array(allowedIPs.map(JSONValue.string)))) }
            if passwordStdin { fields.append(("password", .string(try Accounts.readSecret()))) }
            Accounts.show(try await admin.call(.POST, "accounts", .object(fields)))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move an account under another one (or --top).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Option(help: "The new parent's id.") var parent: String?
        @Flag(help: "Make the account top-level.") var top = false
        func validate() throws {
            if (parent == nil) == !top { throw ValidationError("give exactly one of --parent ID or --top") }
        }
        func run() async throws {
            Accounts.show(try await admin.call(.PATCH, "accounts/\(Accounts.segment(id))", .object([("parent", parent.map(JSONValue.string) ?? .null)])))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account: its credentials (and its subtree's) stop at once; usage is kept.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        func run() async throws { Accounts.show(try await admin.call(.PATCH, "accounts/\(Accounts.segment(id))", .object([("disabled", .bool(true))]))) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled account again.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        func run() async throws { Accounts.show(try await admin.call(.PATCH, "accounts/\(Accounts.segment(id))", .object([("disabled", .bool(false))]))) }
    }

    /// Issues a token or key and prints the secret alone on standard output (it is shown once).
    static func issue(_ admin: AdminOptions, _ kind: String, _ id: String, given: Bool) async throws {
        let body: JSONValue = given ? .object([("secret", .string(try readSecret()))]) : .object([])
        let answer = try await admin.call(.POST, "accounts/\(segment(id))/\(kind)", body)
        if case .string(let secret)? = answer?["secret"], case .string(let cid)? = answer?["id"] {
            FileHandle.standardError.write(Data("issued \(kind == "tokens" ? "token" : "API key") \(cid) for \(id) (the secret below is shown once)\n".utf8))
            print(secret)
        }
    }

    struct IssueToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a bearer token; prints it once.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Flag(help: "Use a token read from standard input instead of a random one.") var secretStdin = false
        func run() async throws { try await Accounts.issue(admin, "tokens", id, given: secretStdin) }
    }

    struct RevokeToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a bearer token by its id (see `show`).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Argument(help: "The token's id.") var tokenID: String
        func run() async throws { _ = try await admin.call(.DELETE, "accounts/\(Accounts.segment(id))/tokens/\(Accounts.segment(tokenID))") }
    }

    struct IssueKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue an API key (Proxy-Seller style); prints it once.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Flag(help: "Use a key read from standard input instead of a random one.") var secretStdin = false
        func run() async throws { try await Accounts.issue(admin, "api-keys", id, given: secretStdin) }
    }

    struct RevokeKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by its id (see `show`).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Argument(help: "The key's id.") var keyID: String
        func run() async throws { _ = try await admin.call(.DELETE, "accounts/\(Accounts.segment(id))/api-keys/\(Accounts.segment(keyID))") }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the login password (first line of standard input), or --clear it. Ends earlier logins.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Flag(help: "Remove the password.") var clear = false
        func run() async throws {
            let value: JSONValue = clear ? .null : .string(try Accounts.readSecret())
            Accounts.show(try await admin.call(.PATCH, "accounts/\(Accounts.segment(id))", .object([("password", value)])))
        }
    }

    struct SetAllowedIPs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-allowed-ips", abstract: "Set the addresses and CIDR blocks an account's API keys may be used from (none: any).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The account id.") var id: String
        @Argument(help: "Addresses or CIDR blocks, e.g. 203.0.113.0/24 2001:db8::/32.") var networks: [String] = []
        func run() async throws {
            Accounts.show(try await admin.call(.PATCH, "accounts/\(Accounts.segment(id))", .object([("allowed_ips", .array(networks.map(JSONValue.string)))])))
        }
    }

    struct HashPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the pbkdf2-sha256 hash of a password read from standard input, to write in a configuration instead of the password.")
        func run() throws { print(Secrets.hashPassword(try Accounts.readSecret())) }
    }

    /// The first line of standard input (a secret never belongs in a command line).
    static func readSecret() throws -> String {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("expected the secret on standard input") }
        return line
    }

    /// A path segment with everything but unreserved characters percent-encoded.
    static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? s
    }
}
