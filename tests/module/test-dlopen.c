/* SPDX-License-Identifier: MIT */
/*
 * Load a built module the way its host does (dlopen, RTLD_NOW, so every
 * symbol must resolve) and check that it exports exactly its ABI.
 * usage: test-dlopen MODULE SYMBOL...
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool listed(const char *name, int argc, char **argv) {
        for (int i = 2; i < argc; i++)
                if (strcmp(argv[i], name) == 0)
                        return true;
        return false;
}

/* Every defined global symbol in .dynsym must be one of argv[2..]. */
static int check_exports(const char *path, int argc, char **argv) {
        const Elf64_Ehdr *eh;
        const Elf64_Shdr *sh;
        struct stat st;
        unsigned extra = 0, found = 0;
        void *map;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                perror(path);
                return -1;
        }
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map == MAP_FAILED)
                return -1;

        eh = map;
        if ((size_t) st.st_size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
            eh->e_ident[EI_CLASS] != ELFCLASS64 ||
            eh->e_shoff + (size_t) eh->e_shnum * sizeof(Elf64_Shdr) > (size_t) st.st_size) {
                fprintf(stderr, "%s: not a 64-bit ELF file\n", path);
                return -1;
        }
        sh = (const Elf64_Shdr *) ((const char *) map + eh->e_shoff);

        for (unsigned i = 0; i < eh->e_shnum; i++) {
                const Elf64_Sym *sym;
                const char *strtab;
                size_t n;

                if (sh[i].sh_type != SHT_DYNSYM)
                        continue;
                sym = (const Elf64_Sym *) ((const char *) map + sh[i].sh_offset);
                strtab = (const char *) map + sh[sh[i].sh_link].sh_offset;
                n = sh[i].sh_size / sizeof(Elf64_Sym);

                for (size_t k = 1; k < n; k++) {
                        const char *name = strtab + sym[k].st_name;
                        unsigned bind = ELF64_ST_BIND(sym[k].st_info);

                        if (sym[k].st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
                                continue;
                        if (listed(name, argc, argv))
                                found++;
                        else {
                                fprintf(stderr, "%s exports %s, which is not part of its ABI\n", path, name);
                                extra++;
                        }
                }
        }
        munmap(map, (size_t) st.st_size);
        if (found != (unsigned) (argc - 2)) {
                fprintf(stderr, "%s exports %u of the %d ABI symbols\n", path, found, argc - 2);
                return -1;
        }
        return extra ? -1 : 0;
}

int main(int argc, char **argv) {
        int failed = 0;
        void *h;

        if (argc < 3) {
                fprintf(stderr, "usage: %s MODULE SYMBOL...\n", argv[0]);
                return 2;
        }

        h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
                return 1;
        }
        for (int i = 2; i < argc; i++)
                if (!dlsym(h, argv[i])) {
                        fprintf(stderr, "%s: missing %s\n", argv[1], argv[i]);
                        failed++;
                }
        dlclose(h);

        if (check_exports(argv[1], argc, argv) < 0)
                failed++;
        return failed ? 1 : 0;
}
