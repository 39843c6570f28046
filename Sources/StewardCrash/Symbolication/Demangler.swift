#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns mangled symbol names into readable ones with the demanglers already loaded in the
/// process: `swift_demangle` from the Swift runtime for Swift names, `__cxa_demangle` from
/// the C++ runtime for C++ names when it is loaded. C names come back unchanged, and so does
/// any name a demangler refuses.
enum Demangler {
    private typealias SwiftDemangle =
        @convention(c) (
            UnsafePointer<CChar>?, Int, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UInt32
        ) -> UnsafeMutablePointer<CChar>?
    private typealias CxaDemangle =
        @convention(c) (
            UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?,
            UnsafeMutablePointer<Int32>?
        ) -> UnsafeMutablePointer<CChar>?

    /// Looked up once; `dlsym` on the global scope (`RTLD_DEFAULT`).
    private static let swiftDemangle: SwiftDemangle? = lookUp("swift_demangle")
    private static let cxaDemangle: CxaDemangle? = lookUp("__cxa_demangle")

    private static func lookUp<T>(_ name: String) -> T? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: T.self)
    }

    /// Whether `name` looks like a mangled Swift name.
    static func isSwiftMangled(_ name: String) -> Bool {
        name.hasPrefix("$s") || name.hasPrefix("$S") || name.hasPrefix("_$s") || name.hasPrefix("_$S")
            || name.hasPrefix("$e") || name.hasPrefix("_T0") || name.hasPrefix("@__swiftmacro_")
    }

    /// The readable form of `name`.
    static func demangle(_ name: String) -> String {
        if isSwiftMangled(name), let swiftDemangle {
            let result = name.withCString { pointer -> String? in
                guard let output = swiftDemangle(pointer, strlen(pointer), nil, nil, 0) else { return nil }
                defer { free(output) }
                return String(cString: output)
            }
            return result ?? name
        }
        if name.hasPrefix("_Z"), let cxaDemangle {
            let result = name.withCString { pointer -> String? in
                var status: Int32 = -1
                guard let output = cxaDemangle(pointer, nil, nil, &status) else { return nil }
                defer { free(output) }
                return status == 0 ? String(cString: output) : nil
            }
            return result ?? name
        }
        return name
    }
}
