/* Empty stand-in: everything rangeset.c needs comes from emul.h (forced with -include). */
