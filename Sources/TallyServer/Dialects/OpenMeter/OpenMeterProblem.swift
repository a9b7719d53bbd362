import Hummingbird
import NIOCore
import TallyCore

/// An error of the OpenMeter dialect, rendered as RFC 7807 `application/problem+json`.
struct OpenMeterProblem: Error, Sendable {
    var status: HTTPResponse.Status
    var detail: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    static let unauthorized = OpenMeterProblem(.unauthorized, "a valid bearer token of an account is required")
    static let unavailable = OpenMeterProblem(.serviceUnavailable, "the query could not be answered right now; retry later")

    func response(instance: String) -> Response {
        let body = "{\"type\":\"about:blank\",\"title\":" + JSONValue.quote(status.reasonPhrase) + ",\"status\":\(status.code),\"detail\":"
            + JSONValue.quote(detail) + ",\"instance\":" + JSONValue.quote(instance) + "}"
        var h = headers
        h[.contentType] = "application/problem+json"
        if status == .unauthorized { h[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Maps every error of the OpenMeter routes to problem+json; nothing else reaches the client.
struct OpenMeterErrorMiddleware: RouterMiddleware {
    typealias Context = TallyContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let instance = request.uri.path
        do {
            return try await next(request, context)
        } catch let e as OpenMeterProblem {
            return e.response(instance: instance)
        } catch let e as HTTPError where e.status.code < 500 {
            return OpenMeterProblem(e.status, e.status == .notFound ? "no such route" : e.status.reasonPhrase).response(instance: instance)
        } catch {
            context.logger.error("openmeter request failed", metadata: ["error": "\(error)"])
            return OpenMeterProblem.unavailable.response(instance: instance)
        }
    }
}
