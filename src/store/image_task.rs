//! importImage/exportImage records (imageTasks).

use super::{Db, DbResult, ImageTaskRow, ImageTaskStatus, Stmt, IMAGE_TASK_COLUMNS};

#[derive(Debug, Default, Clone)]
pub struct ImageTaskQuery {
    pub pin: String,
    pub region: String,
    pub actions: Vec<String>,
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn image_task_insert(db: &mut Db, t: &ImageTaskRow) -> DbResult<()> {
    db.execute(Stmt::new("INSERT INTO image_tasks(id, pin, region, action, status, progress, image_id, image_name,
            url, objects, error, created_at, finished_at, seq)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",).bind(&t.id).bind(&t.pin).bind(&t.region).bind(&t.action).bind(t.status).bind(t.progress).bind(&t.image_id).bind(&t.image_name).bind(&t.url).bind(&t.objects).bind(&t.error).bind(t.created_at).bind(t.finished_at).bind(t.seq)).await?;
    Ok(())
}

pub async fn image_task_update(
    db: &mut Db,
    id: &str,
    status: ImageTaskStatus,
    progress: i64,
    objects: Option<&str>,
    error: &str,
    finished_at: i64,
) -> DbResult<()> {
    db.execute(
        Stmt::new(
            "UPDATE image_tasks SET status = $1, progress = $2, objects = COALESCE($3, objects),
             error = $4, finished_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(progress)
        .bind(objects)
        .bind(error)
        .bind(finished_at)
        .bind(id),
    )
    .await?;
    Ok(())
}

pub async fn image_task_list(
    db: &mut Db,
    q: &ImageTaskQuery,
) -> DbResult<(Vec<ImageTaskRow>, i64)> {
    let select = |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "image_tasks", &q.pin, &q.region);
        st.push_in("action", &q.actions)
            .push_in("id", &q.ids)
            .push_in("status", &q.statuses);
        if let Some(t) = q.created_from {
            st.push(" AND created_at >= ").push_bind(t);
        }
        if let Some(t) = q.created_to {
            st.push(" AND created_at <= ").push_bind(t);
        }
        st
    };
    super::list_page(
        db,
        select,
        IMAGE_TASK_COLUMNS,
        "seq DESC, id DESC",
        (q.limit, q.offset),
    )
    .await
}
