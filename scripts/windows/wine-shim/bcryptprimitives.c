/* Test-only shim for Wine 8.0 (Debian 12), which has no bcryptprimitives.dll.
 *
 * Rust's standard library (1.78+) takes its random bytes from ProcessPrng in
 * bcryptprimitives.dll, which every Windows 10/11 has and Wine 9.0+ provides. For the smoke
 * test under Debian 12's Wine 8.0, scripts/windows/smoke.sh builds this file with mingw-w64
 * and copies the DLL into the Wine prefix's system32. It is never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
