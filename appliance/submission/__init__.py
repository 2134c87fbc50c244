"""What a submission is, shared by the receiver that takes it and the converter that reads it
back from the spool: its URL forms (`routes`) and the cheap checks of a gzip body (`gzipcheck`)."""
