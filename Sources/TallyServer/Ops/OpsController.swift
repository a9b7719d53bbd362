import Hummingbird
import NIOCore

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.
struct OpsController {
    let runtime: TallyRuntime

    func addRoutes(to router: Router<TallyContext>) {
        router.get("healthz") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("readyz") { _, context in
            do {
                _ = try await runtime.store.stats()
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                context.logger.warning("store not ready", metadata: ["error": "\(error)"])
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "store unavailable\n")))
            }
        }
        router.get("metrics") { _, _ in
            if let stats = try? await runtime.store.stats() { runtime.metrics.storeBytes.set(stats.bytesOnDisk) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: runtime.metrics.registry.emitToBuffer())))
        }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }
}
