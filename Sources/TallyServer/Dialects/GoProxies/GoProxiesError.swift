import Hummingbird
import NIOCore
import TallyCore

/// An error of the GoProxies dialect:
/// `{"error":{"code","message","detail","fields":{"<param>":{"code","message"}}},"status":N,"path":"/api/v1/..."}`.
struct GoProxiesError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var detail: String
    /// Parameter → (code, message), in the order found.
    var fields: [(parameter: String, code: String, message: String)] = []
    var headers: HTTPFields = [:]

    static let unauthenticated = GoProxiesError(status: .unauthorized, code: "unauthenticated", message: "unauthenticated",
                                                detail: "a valid bearer token is required; get one from POST /api/v1/login")
    static let badCredentials = GoProxiesError(status: .unauthorized, code: "unauthenticated", message: "invalid credentials",
                                               detail: "the username or password is wrong")
    /// Unknown and foreign usernames get this same answer, so existence never leaks.
    static let userNotFound = GoProxiesError(status: .notFound, code: "not_found", message: "user not found", detail: "no such sub-user")
    static let routeNotFound = GoProxiesError(status: .notFound, code: "not_found", message: "not found", detail: "no such route")
    static let unavailable = GoProxiesError(status: .serviceUnavailable, code: "unavailable", message: "service unavailable",
                                            detail: "the statistics could not be computed right now; retry later")

    static func tooManyRequests(_ decision: RateDecision) -> GoProxiesError {
        GoProxiesError(status: .tooManyRequests, code: "resource_exhausted", message: "too many requests",
                       detail: "rate limit reached; retry after \(decision.retryAfter) seconds", headers: decision.refusalHeaders)
    }

    /// 400 `invalid_argument` with one entry per bad parameter.
    static func invalid(_ fields: [(parameter: String, code: String, message: String)]) -> GoProxiesError {
        GoProxiesError(status: .badRequest, code: "invalid_argument", message: "invalid request parameters",
                       detail: fields.map { "\($0.parameter): \($0.message)" }.joined(separator: "; "), fields: fields)
    }

    func response(path: String) -> Response {
        var body = "{\"error\":{\"code\":" + JSONValue.quote(code) + ",\"message\":" + JSONValue.quote(message) + ",\"detail\":" + JSONValue.quote(detail)
        if !fields.isEmpty {
            body += ",\"fields\":{" + fields.map { JSONValue.quote($0.parameter) + ":{\"code\":" + JSONValue.quote($0.code) + ",\"message\":" + JSONValue.quote($0.message) + "}" }
                .joined(separator: ",") + "}"
        }
        body += "},\"status\":\(status.code),\"path\":" + JSONValue.quote(path) + "}"
        var h = headers
        h[.contentType] = "application/json"
        if status == .unauthorized { h[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Maps every error of the GoProxies routes to GoProxies' envelope; nothing else reaches the client.
struct GoProxiesErrorMiddleware: RouterMiddleware {
    typealias Context = TallyContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        do {
            return try await next(request, context)
        } catch let e as GoProxiesError {
            return e.response(path: path)
        } catch let e as HTTPError where e.status == .notFound {
            return GoProxiesError.routeNotFound.response(path: path)
        } catch let e as HTTPError where e.status.code < 500 {
            return GoProxiesError(status: e.status, code: "invalid_argument", message: e.status.reasonPhrase, detail: e.status.reasonPhrase).response(path: path)
        } catch {
            context.logger.error("goproxies request failed", metadata: ["error": "\(error)"])
            return GoProxiesError.unavailable.response(path: path)
        }
    }
}
