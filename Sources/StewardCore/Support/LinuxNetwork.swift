import CStewardLinux

/// Network interface calls Swift cannot make directly (a variadic `ioctl`), for StewardDevice.
package enum LinuxNetwork {
    /// The permanent hardware address of `interface` (`ETHTOOL_GPERMADDR`, no privilege
    /// needed), read through `socket` (any socket): the address bytes (empty when the driver
    /// reports none), or the `errno` of the failed call.
    package static func permanentAddress(of interface: String, socket: Int32) -> Result<[UInt8], SystemError> {
        var buffer = [UInt8](repeating: 0, count: 32)
        let capacity = Int32(buffer.count)
        let length = buffer.withUnsafeMutableBufferPointer { out in
            steward_permanent_address(socket, interface, out.baseAddress, capacity)
        }
        guard length >= 0 else {
            return .failure(SystemError(call: "ioctl(SIOCETHTOOL)", path: interface, errno: -length))
        }
        return .success(Array(buffer.prefix(Int(length))))
    }
}
