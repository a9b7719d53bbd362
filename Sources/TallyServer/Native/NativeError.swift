import Hummingbird
import NIOCore
import TallyCore

/// An error of the native API, rendered as `{"error":{"code","message","details":[...]}}`.
public struct NativeError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Each `(where, why)`: a line number or parameter name, and the reason.
    public var details: [(String, String)]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, details: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    static let unauthorized = NativeError(.unauthorized, "unauthorized", "a valid bearer token is required")

    var response: Response {
        var body = "{\"error\":{\"code\":" + JSONValue.quote(code) + ",\"message\":" + JSONValue.quote(message)
        if !details.isEmpty {
            body += ",\"details\":[" + details.map { w, m in
                let key = Int(w) != nil ? "\"line\":" + w : "\"parameter\":" + JSONValue.quote(w)
                return "{" + key + ",\"message\":" + JSONValue.quote(m) + "}"
            }.joined(separator: ",") + "]"
        }
        body += "}}"
        var h = headers
        h[.contentType] = "application/json"
        if status == .unauthorized { h[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Maps every error of the native routes to its envelope; nothing else reaches the client.
struct NativeErrorMiddleware: RouterMiddleware {
    typealias Context = TallyContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as NativeError {
            return e.response
        } catch let e as HTTPError {
            switch e.status {
            case .contentTooLarge: return NativeError(.contentTooLarge, "too_large", "the request body is too large").response
            case .notFound: return NativeError(.notFound, "not_found", "no such route").response
            case .methodNotAllowed: return NativeError(.methodNotAllowed, "method_not_allowed", "method not allowed").response
            default: return NativeError(e.status, "bad_request", e.status.reasonPhrase).response
            }
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return NativeError(.serviceUnavailable, "unavailable", "the request could not be completed; retry later").response
        }
    }
}
