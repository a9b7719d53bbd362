import Hummingbird
import NIOCore
import TallyCore

/// `/v1/admin/accounts...`: accounts and credentials managed while the server runs, for the
/// operator holding an `auth.admin_tokens` token. Every change is stored before it is answered.
struct AdminController {
    let runtime: TallyRuntime

    /// The largest admin request body.
    static let maxBodyBytes = 64 << 10

    func addRoutes(to group: RouterGroup<TallyContext>) {
        let admin = group.group("v1/admin")
        admin.get("accounts") { request, context in
            try authorize(request)
            let s = runtime.registry.snapshot
            return json(.ok, .object([("accounts", .array(s.directory.accounts.map { view($0, s) }))]))
        }
        admin.post("accounts") { request, context in
            try authorize(request)
            let body = try await object(request)
            guard case .string(let id)? = body["id"] else { throw NativeError(.badRequest, "invalid_account", "id is required (a string)") }
            let change = try AdminController.change(body, allowing: ["id", "parent"])
            let a = try await mapped { try await runtime.accounts.create(id: id, parent: change.parent ?? nil, change: change) }
            return json(.created, view(a, runtime.registry.snapshot))
        }
        admin.get("accounts/:id") { request, context in
            try authorize(request)
            let s = runtime.registry.snapshot
            guard let a = s.directory[try context.parameters.require("id")] else { throw AdminController.notFound }
            return json(.ok, view(a, s))
        }
        admin.patch("accounts/:id") { request, context in
            try authorize(request)
            let change = try AdminController.change(try await object(request), allowing: ["parent"])
            let id = try context.parameters.require("id")
            let a = try await mapped { try await runtime.accounts.update(id: id, change: change) }
            return json(.ok, view(a, runtime.registry.snapshot))
        }
        for (path, kind) in [("tokens", CredentialKind.token), ("api-keys", .apiKey)] {
            admin.post("accounts/:id/\(path)") { request, context in
                try authorize(request)
                let body = try await object(request, optional: true)
                for (k, _) in body.pairs where k != "secret" { throw NativeError(.badRequest, "invalid_request", "unknown field \"\(k.prefix(64))\" (expected: secret)") }
                var given: String?
                switch body["secret"] {
                case .string(let s)?: given = s
                case nil, .null?: given = nil
                default: throw NativeError(.badRequest, "invalid_request", "secret must be a string")
                }
                let id = try context.parameters.require("id")
                let issued = try await mapped { try await runtime.accounts.issue(kind, for: id, given: given) }
                return json(.created, .object([("account", .string(id)), ("id", .string(issued.id)), ("secret", .string(issued.secret))]))
            }
            admin.delete("accounts/:id/\(path)/:credential") { request, context in
                try authorize(request)
                let id = try context.parameters.require("id")
                let credential = try context.parameters.require("credential")
                try await mapped { try await runtime.accounts.revoke(kind, credential: credential, of: id) }
                return Response(status: .noContent)
            }
        }
    }

    static let notFound = NativeError(.notFound, "account_not_found", "no such account")

    /// Admits the holder of an admin token (401 for anything else, 429 past the `admin` rate limit).
    func authorize(_ request: Request) throws {
        guard let token = TallyRuntime.bearer(request), let digest = runtime.adminCredential(token) else {
            throw NativeError(.unauthorized, "unauthorized", "an admin token is required")
        }
        try runtime.enforce(runtime.admit(Caller(account: "", credential: "admin:" + digest), face: "admin"))
    }

    /// Runs an account change, mapping its refusal to a native error.
    func mapped<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let e as AccountChangeError {
            let status: HTTPResponse.Status = switch e.kind {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .conflict: .conflict
            }
            throw NativeError(status, e.code, e.message)
        }
    }

    /// The request body as a JSON object (an empty body is `{}` when `optional`).
    func object(_ request: Request, optional: Bool = false) async throws -> JSONValue {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: AdminController.maxBodyBytes)
        } catch {
            throw NativeError(.contentTooLarge, "too_large", "the request body is larger than \(AdminController.maxBodyBytes) bytes")
        }
        if body.readableBytes == 0 && optional { return .object([]) }
        let value: JSONValue
        do {
            value = try body.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.parse(raw.bindMemory(to: UInt8.self)) }
        } catch {
            throw NativeError(.badRequest, "invalid_json", "the body is not valid JSON: \(error.description)")
        }
        guard case .object = value else { throw NativeError(.badRequest, "invalid_json", "the body must be a JSON object") }
        return value
    }

    /// The fields of an account change, each checked for its type; unknown fields are refused.
    static func change(_ body: JSONValue, allowing extra: Set<String>) throws -> AccountChange {
        var c = AccountChange()
        var problems: [(String, String)] = []
        func optionalString(_ key: String) -> String?? {
            switch body[key] {
            case nil: return nil
            case .null?: return .some(nil)
            case .string(let s)?: return .some(s)
            default:
                problems.append((key, "expected a string or null"))
                return nil
            }
        }
        for (k, _) in body.pairs where !["name", "hash", "username", "package_key", "disabled", "password", "allowed_ips"].contains(k) && !extra.contains(k) {
            problems.append((String(k.prefix(64)), "unknown field"))
        }
        c.name = optionalString("name")
        c.hash = optionalString("hash")
        c.username = optionalString("username")
        c.packageKey = optionalString("package_key")
        c.password = optionalString("password")
        if extra.contains("parent") { c.parent = optionalString("parent") }
        switch body["disabled"] {
        case nil: break
        case .bool(let b)?: c.disabled = b
        default: problems.append(("disabled", "expected true or false"))
        }
        switch body["allowed_ips"] {
        case nil: break
        case .null?: c.allowedIPs = []
        case .array(let items)?:
            var ips: [String] = []
            for item in items {
                if case .string(let s) = item { ips.append(s) } else { problems.append(("allowed_ips", "expected a list of strings")) }
            }
            c.allowedIPs = ips
        default: problems.append(("allowed_ips", "expected a list of strings"))
        }
        if !problems.isEmpty { throw NativeError(.badRequest, "invalid_account", "the account has \(problems.count) problem(s)", details: problems) }
        return c
    }

    /// An account as the admin API shows it: identifiers, state and credential ids, never a secret.
    func view(_ a: Account, _ s: AccountRegistry.Snapshot) -> JSONValue {
        func opt(_ v: String?) -> JSONValue { v.map(JSONValue.string) ?? .null }
        func credentials(_ list: [String]) -> JSONValue {
            .array(list.map { stored in
                .object([("id", .string(Secrets.credentialID(digest: Secrets.digest(configured: stored)))),
                         ("source", .string(runtime.accounts.isConfigured(stored, of: a.id) ? "configuration" : "runtime"))])
            })
        }
        let configured = runtime.accounts.configuredFields(a.id)
        return .object([
            ("id", .string(a.id)), ("name", opt(a.name)), ("parent", opt(a.parentID)),
            ("hash", opt(a.hash)), ("username", opt(a.username)), ("package_key", opt(a.packageKey)),
            ("disabled", .bool(a.disabled)), ("active", .bool(s.isActive(a.id))),
            ("password", .bool(a.password != nil)), ("allowed_ips", .array(a.allowedIPs.map(JSONValue.string))),
            ("tokens", credentials(a.tokens)), ("api_keys", credentials(a.apiKeys)),
            ("source", .string(configured.isEmpty ? "runtime" : "configuration")),
            ("configured", .array(configured.map(JSONValue.string))),
        ])
    }

    func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}

extension JSONValue {
    /// The members of an object (empty for anything else).
    var pairs: [(String, JSONValue)] {
        if case .object(let p) = self { return p }
        return []
    }
}
