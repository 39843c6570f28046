import CFuzzDriver
import Foundation
import FuzzTargets

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs libFuzzer on one target: every input goes through `T.run`; a broken property is printed
/// and aborts, so libFuzzer saves the input as a crash artifact.
///
/// `callback` must be a closure that calls ``check(_:_:)`` with its target, written at the call
/// site so that it converts to a C function pointer (it captures nothing).
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// Runs one input through `target`; aborts with the violated property when there is one.
public func check<T: FuzzTarget>(_ target: T.Type, _ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try T.run(input)
    } catch {
        // The message goes to the log before libFuzzer saves the input as a crash artifact.
        FileHandle.standardError.write(Data("\(T.name): property broken: \(error)\n".utf8))
        abort()
    }
    return 0
}
