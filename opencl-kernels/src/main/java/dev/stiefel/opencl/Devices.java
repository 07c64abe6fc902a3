package dev.stiefel.opencl;

import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_device_id;
import org.jocl.cl_platform_id;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The OpenCL platforms and devices this machine offers, and the choice among them:
 * {@code -Dstiefel.opencl.platform} and {@code -Dstiefel.opencl.device}, each an index or a case-insensitive part
 * of the name (default: the first platform with a device, its first GPU, else its first device).
 */
final class Devices {
    private Devices() {}

    record Device(int platformIndex, String platform, int deviceIndex, cl_platform_id platformId, cl_device_id id,
                  String name, String type, int computeUnits, long globalMemory, boolean fp64) {
        String describe() {
            return String.format(Locale.ROOT, "platform %d '%s', device %d '%s' (%s, %d compute units, %d MiB%s)", platformIndex, platform,
                    deviceIndex, name, type, computeUnits, globalMemory >> 20, fp64 ? ", fp64" : "");
        }
    }

    /** Every device of every platform; empty when no ICD or no platform is installed. */
    static List<Device> all() {
        CL.setExceptionsEnabled(true);
        List<Device> out = new ArrayList<>();
        int[] count = new int[1];
        try {
            CL.clGetPlatformIDs(0, null, count);
        } catch (org.jocl.CLException e) { // CL_PLATFORM_NOT_FOUND_KHR: an ICD loader without platforms
            return out;
        }
        cl_platform_id[] platforms = new cl_platform_id[count[0]];
        CL.clGetPlatformIDs(platforms.length, platforms, null);
        for (int p = 0; p < platforms.length; p++) {
            String pname = platformString(platforms[p], CL.CL_PLATFORM_NAME);
            int[] nd = new int[1];
            try {
                CL.clGetDeviceIDs(platforms[p], CL.CL_DEVICE_TYPE_ALL, 0, null, nd);
            } catch (org.jocl.CLException e) { // CL_DEVICE_NOT_FOUND
                continue;
            }
            cl_device_id[] ids = new cl_device_id[nd[0]];
            CL.clGetDeviceIDs(platforms[p], CL.CL_DEVICE_TYPE_ALL, ids.length, ids, null);
            for (int d = 0; d < ids.length; d++) {
                long type = deviceLong(ids[d], CL.CL_DEVICE_TYPE);
                String t = (type & CL.CL_DEVICE_TYPE_GPU) != 0 ? "gpu" : (type & CL.CL_DEVICE_TYPE_CPU) != 0 ? "cpu" : "accelerator";
                out.add(new Device(p, pname, d, platforms[p], ids[d], deviceString(ids[d], CL.CL_DEVICE_NAME), t,
                        (int) deviceInt(ids[d], CL.CL_DEVICE_MAX_COMPUTE_UNITS), deviceLong(ids[d], CL.CL_DEVICE_GLOBAL_MEM_SIZE),
                        deviceString(ids[d], CL.CL_DEVICE_EXTENSIONS).contains("cl_khr_fp64")));
            }
        }
        return out;
    }

    /** The device the properties name; an error lists what exists when they name none. */
    static Device choose(List<Device> devices, String platform, String device) {
        List<Device> inPlatform = devices.stream().filter(d -> matches(platform, d.platformIndex(), d.platform())).toList();
        if (inPlatform.isEmpty())
            throw new IllegalArgumentException("opencl: no platform matches stiefel.opencl.platform='" + platform + "'; found: " + names(devices));
        if (device == null) {
            return inPlatform.stream().filter(d -> d.type().equals("gpu") && d.platformIndex() == inPlatform.get(0).platformIndex()).findFirst()
                    .orElse(inPlatform.get(0));
        }
        int firstPlatform = inPlatform.get(0).platformIndex();
        return inPlatform.stream().filter(d -> d.platformIndex() == firstPlatform && matches(device, d.deviceIndex(), d.name())).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("opencl: no device matches stiefel.opencl.device='" + device + "'; found: " + names(devices)));
    }

    private static boolean matches(String wanted, int index, String name) {
        if (wanted == null || wanted.isBlank()) return true;
        if (wanted.chars().allMatch(Character::isDigit)) return Integer.parseInt(wanted) == index;
        return name.toLowerCase(Locale.ROOT).contains(wanted.toLowerCase(Locale.ROOT));
    }

    private static String names(List<Device> devices) {
        return devices.isEmpty() ? "none" : String.join("; ", devices.stream().map(Device::describe).toList());
    }

    private static String platformString(cl_platform_id p, int param) {
        long[] size = new long[1];
        CL.clGetPlatformInfo(p, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetPlatformInfo(p, param, b.length, Pointer.to(b), null);
        return cString(b);
    }

    static String deviceString(cl_device_id d, int param) {
        long[] size = new long[1];
        CL.clGetDeviceInfo(d, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetDeviceInfo(d, param, b.length, Pointer.to(b), null);
        return cString(b);
    }

    static long deviceLong(cl_device_id d, int param) {
        long[] v = new long[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_ulong, Pointer.to(v), null);
        return v[0];
    }

    static long deviceInt(cl_device_id d, int param) {
        int[] v = new int[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_uint, Pointer.to(v), null);
        return v[0];
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return new String(b, 0, n, StandardCharsets.UTF_8).trim();
    }
}
